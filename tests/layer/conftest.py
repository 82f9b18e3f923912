import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the layer tests' helpers, and meta-armvm/lib (the audit logic bitbake imports)
sys.path[0:0] = [str(HERE), str(HERE.parents[1] / "meta-armvm" / "lib")]
