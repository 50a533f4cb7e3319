import numpy as np

from compression.gate import cell_change, changed_share


def test_change_is_located_in_its_cell():
    ref = np.full((56, 84, 3), 100, np.uint8)
    frames = np.stack([ref, ref.copy()])
    frames[1, 28:56, 56:84] = 200                 # cell (1, 2) of a 2x3 grid, in the second frame
    change = cell_change(frames, ref, 28)
    assert change.shape == (2, 3)
    assert np.argmax(change) == 5 and change[1, 2] > 0.3
    assert changed_share(change, 0.04) == 1 / 6
    assert changed_share(cell_change(np.stack([ref, ref]), ref, 28), 0.04) == 0.0
