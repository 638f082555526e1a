"""The Moviola language server (``moviola lsp``): diagnostics, completion, hover, navigation,
code actions and builds for Fountain screenplays in any LSP editor. See docs/editors.md."""


def serve() -> None:
    """Run the server on stdio until the client says exit."""
    from .server import serve as _serve

    _serve()
