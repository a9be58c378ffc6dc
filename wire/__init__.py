"""Wire protocol shared by nodes and clients: RPC metadata, framing, the service class."""
