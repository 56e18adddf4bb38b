"""Network architectures: generators, discriminators / critics, encoders, decoders."""
