"""The prgym sandbox: catalog backends, web tools, the Gymnasium env, supervisor, rewards and recorder."""

__version__ = "0.1.0"
