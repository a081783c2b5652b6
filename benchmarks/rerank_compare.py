"""Re-ranking for search by photo, measured: rank-1 and mAP with plain cosine ranking, average
query expansion and k-reciprocal re-ranking, on an export-set folder and on MOT17-mini (first-frame
crops query the last-frame crops of all sequences). Prints one JSON document.

    python benchmarks/rerank_compare.py --set out/reidset \\
        osnet_x0_25_msmt17 person-reidentification-retail-0288
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from reidcam.eval.dataset import labels, load_market
from reidcam.eval.embedders import load_embedder
from reidcam.eval.model_compare import mot_retrieval_vectors, rerank_scores
from reidcam.eval.reid_eval import embed_items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="ReID registry names")
    ap.add_argument("--set", type=Path, required=True, help="export-set folder (query/, bounding_box_test/)")
    ap.add_argument("--media-dir", type=Path, default=os.environ.get("REIDCAM_MEDIA_DIR"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = load_market(args.set, ("query", "bounding_box_test"))
    query = [i for i in data.query if i.pid != -1]
    (qp, qc), (gp, gc) = labels(query), labels(data.gallery)
    rows = []
    for name in args.models:
        emb = load_embedder(name)
        q, g = embed_items(emb, query, progress=False), embed_items(emb, data.gallery, progress=False)
        row = {"model": name, "export_set": rerank_scores(q, g, qp, gp, qc, gc)}
        if args.media_dir:
            mq, mg, *lab = mot_retrieval_vectors(emb, args.media_dir / "MOT17-mini")
            row["mot17_first_vs_last"] = rerank_scores(mq, mg, *lab)
            row["mot17_sizes"] = [len(mq), len(mg), len(np.unique(lab[0]))]
        rows.append(row)
    json.dump(rows, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
