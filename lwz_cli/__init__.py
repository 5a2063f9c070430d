"""lwz: long-form writing with LongWriter-Zero on your own machine.

The command line (`lwz_cli.cli`) is a thin layer over this library::

    from lwz_cli.writing.run import write_document
    from lwz_cli.writing.session import WriteRequest, prepare
"""

__version__ = "0.1.0"
