"""What the commands print is printed as it is: a certificate fingerprint's ":AB:" is not an
emoji (a federation test failed on a certificate whose fingerprint held one)."""

from __future__ import annotations

import pytest
from rich.console import Console

from vigil import analyze_cli, cli, demo, nodes_cli, recognition_cli
from vigil.federation import cli as sites_cli

FINGERPRINT = "03:DC:91:C6:0D:66:AB:71:A6:CD:A:B:F4"


@pytest.mark.parametrize(
    "console",
    [
        cli.console,
        demo.console,
        nodes_cli.console,
        sites_cli.console,
        analyze_cli.console,
        analyze_cli.errors,
        recognition_cli.console,
        recognition_cli.errors,
    ],
)
def test_fingerprints_print_as_they_are(console: Console) -> None:
    with console.capture() as captured:
        console.print(f"  --fingerprint {FINGERPRINT}")
    assert FINGERPRINT in captured.get()
