"""The device agent: runs edgecnn's timing protocol on a remote device (Raspberry Pi, Jetson, any aarch64 Linux).

Torch-free by design: the device needs only numpy and onnxruntime (or openvino). The host talks to it
through `edgecnn.runtime.remote` with versioned JSON over a length-prefixed TCP or TLS stream
(challenge-response authentication: the token never crosses the wire; model files follow as raw bytes).
"""
