"""Rewrite the settings table in README.md from the settings model (`idp settings`)."""

import re
import subprocess
import sys
from pathlib import Path

readme = Path(__file__).parent.parent / "README.md"
table = subprocess.run([str(Path(sys.executable).parent / "idp"), "settings"], check=True,
                       capture_output=True, text=True).stdout.strip()
text = readme.read_text()
new = re.sub(r"\| variable \| default \| meaning \|\n(?:\|.*\|\n)+", table + "\n", text, count=1)
readme.write_text(new)
print("README settings table:", "updated" if new != text else "unchanged")
