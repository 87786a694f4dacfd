#!/usr/bin/env python3
"""Test grunter whose `submit` fails, as a grunter does when sbatch refuses a job."""
import sys

if sys.argv[1] == "submit":
    print("sbatch: error: Batch job submission failed: Invalid partition name specified",
          file=sys.stderr)
    sys.exit(3)
