"""sa3p_host: the local filesystem and process backends, the `sa3p` command, the guest server."""
