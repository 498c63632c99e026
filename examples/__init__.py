"""Examples of code built on `seal` without being part of it (see `my_seal_extension/`)."""
