"""sa3p_protocol: binary frames, connection control and flow-controlled multiplexing (Sans-IO)."""
