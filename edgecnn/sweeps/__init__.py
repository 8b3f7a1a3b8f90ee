"""Many optimize runs at once: a sweep file's models x recipes x targets (and device agents), each cell one
`optimize` run as a Ray task (or one after another without Ray), gathered into one leaderboard."""
