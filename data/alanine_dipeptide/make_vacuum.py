#!/usr/bin/env python3
"""Writes system_vacuum.xml: system.xml without its implicit-solvent force (the OBC1
`CustomGBForce`), every other line unchanged. The free energy from this system to system.xml at
the same temperature is the solvation free energy of alanine dipeptide in OBC1 implicit solvent
with this force field. Needs only the Python standard library; run from this folder:

    python3 make_vacuum.py
"""
import re

with open("system.xml") as f:
    text = f.read()
gb = re.compile(r'\t\t<Force [^>]*type="CustomGBForce".*?</Force>\n', re.S)
assert len(gb.findall(text)) == 1, "system.xml should hold exactly one CustomGBForce"
with open("system_vacuum.xml", "w") as f:
    f.write(gb.sub("", text))
