"""The local backends: this machine's files and processes behind the engine's interfaces."""
