"""The headless training segments (mmlib.papers.dilran.train_segment) resume, record, and hand over to the chapter."""

import json

from mmlib.papers.dilran import protocol
from mmlib.papers.dilran.splits import split_pairs
from mmlib.papers.dilran.train_segment import finished_epochs, main

TINY = ["--dataset", "fusion-phantoms", "--image-size", "32", "--max-train-images", "8", "--no-progress"]


def test_segments_resume_and_the_chapter_trains_nothing_more(tmp_path):
    out = tmp_path / "dilran-paper"
    assert main(["--split", "paper", "--out", str(out), "--epochs", "1", *TINY]) == 0
    assert main(["--split", "paper", "--out", str(out), "--epochs", "2", *TINY]) == 0
    assert finished_epochs(out, "dilran") == 2
    first, second = (json.loads((out / f"segment-{a}-{b}.json").read_text()) for a, b in (("001", "001"), ("002", "002")))
    assert first["params"]["max_epochs"] == 1 and second["params"]["max_epochs"] == 2
    assert second["command"].startswith("python -m mmlib.papers.dilran.train_segment --split paper")
    assert second["data"]["description"]["generator"].endswith("image_fusion_phantoms")
    assert second["device"]["name"] == "cpu" and second["wall_time_s"] > 0

    # The chapter's training call on the same folder and parameters finds the finished run.
    checkpoint_time = (out / "checkpoint.pt").stat().st_mtime_ns
    data = protocol.load_pairs(None, "fusion-phantoms", "CT-MRI", 32, 3407)
    parts = split_pairs(data.names, "paper", 3407)
    train_loader, val_loader, _ = protocol.make_loaders(data, parts, max_train_images=8, train_crop=None,
                                                        batch_size=4, seed=3407)
    loss = protocol.make_loss(None, 0.2, 0.2)
    _, history = protocol.train_model("dilran", train_loader, val_loader, loss, max_epochs=2, lr=1e-4, device="cpu",
                                      precision="bf16", checkpoint_dir=out, seed=3407, progress=False)
    assert (out / "checkpoint.pt").stat().st_mtime_ns == checkpoint_time
    assert len(history.epochs) == 2 and history.best_epoch in (1, 2) and history.best_path == out / "best.pt"
