"""Pure tensor functions: the maths of ltsnn, written once."""
