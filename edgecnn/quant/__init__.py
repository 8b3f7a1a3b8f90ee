"""quant: calibration data, int8 PTQ to QDQ ONNX, fp16, equalization, bias correction, sensitivity and fallback."""
