"""Placeholder: being written."""


def add_parser(sub, common) -> None:
    pass
