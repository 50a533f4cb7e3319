"""The live panel's overlay: dropped cells dimmed, kept cells edged, a small frame enlarged by a whole factor."""
import numpy as np

from app.overlay import overlay


def test_dropped_cells_are_dimmed_kept_ones_edged_and_a_small_frame_enlarged_whole():
    frame = np.full((32, 48, 3), 200, np.uint8)              # 2 x 3 cells of 16 pixels (the light mode's SigLIP)
    keep = np.array([[True, False, False], [False, False, True]])
    out = overlay(frame, keep, min_width=100)
    assert out.shape == (96, 144, 3)                           # k = 3: the smallest whole factor reaching 100
    cell = 48                                                  # 16 pixels x 3
    assert (out[cell + 10, 10] == 60).all()                    # a dropped cell's inside: 200 x 0.3
    assert (out[10, 10] == 200).all()                          # a kept cell's inside: as it was
    assert (out[0, 0] == (0, 220, 90)).all() and (out[cell + 10, cell * 2] == (0, 220, 90)).all()   # kept edges
    assert overlay(frame, keep).shape == frame.shape           # no minimum: as the model saw it
