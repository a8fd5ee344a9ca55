"""The Train form's parts for images other than the registered grey sets: the window's
own images (a user's folder or file, CIFAR-10) as a training choice, and the
architecture (MLP, or convolutional for 32 and 64 pixel images)."""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox

from explorer.startup import DatasetContext
from models.kinds import ARCH_TITLES, ARCHS, CONV_SIDES, conv_sides_text

OWN = "own"  # the dataset combo's key for the window's own images
CONV_HIDDEN_HINT = "channel widths of the convolutions, one per halving of the image (e.g. 32, 64, 128)"


def own_status(ctx: DatasetContext) -> str:
    """The form's line about training on the window's own images."""
    data = ctx.data
    count = f"{len(data.train_images):,} training and {len(data.test_images):,} test images" if data is not None else ""
    return f"Trains on {ctx.title}: {count}, {ctx.shape_text}."


def own_source(ctx: DatasetContext) -> Any:
    """What a job trains on: the images already read (sent to the training process as they are)."""
    from models.jobs import GivenDataset

    assert ctx.data is not None
    return GivenDataset(ctx.data)


class ArchChoice(QComboBox):
    """MLP or Conv; Conv only for square images of CONV_SIDES pixels (the tooltip says why)."""

    def __init__(self):
        super().__init__()
        for arch in ARCHS:
            self.addItem(ARCH_TITLES[arch], arch)
        self.follow((28, 28))

    def arch(self) -> str:
        return self.currentData() if self.isEnabled() else "mlp"

    def follow(self, image_shape: tuple[int, ...]) -> None:
        """Allow Conv for this dataset's image size, or fall back to MLP and say why."""
        side = image_shape[0]
        ok = image_shape[0] == image_shape[1] and side in CONV_SIDES
        sides = conv_sides_text(squared=True)
        model = self.model()
        item = model.item(self.findData("conv")) if hasattr(model, "item") else None
        if item is not None:
            item.setEnabled(ok)
        if not ok:
            self.setCurrentIndex(self.findData("mlp"))
        self.setToolTip(
            "MLP: fully connected layers, small and quick on 28 x 28 digits. Conv: convolutions, which share "
            f"their weights across the image, for {sides} images (grey or colour); its hidden sizes are the "
            + CONV_HIDDEN_HINT + "."
            + ("" if ok else f" These images are {side} x {image_shape[1]}, so only the MLP fits them.")
        )

    def fields(self, ctx: DatasetContext | None) -> dict[str, Any]:
        """NetConfig fields for ``ctx``'s images (None: the registered 28 x 28 grey sets)."""
        if ctx is None:
            return {"arch": self.arch()}
        return {"image_shape": tuple(ctx.image_shape[:2]), "channels": 3 if ctx.colour else 1, "arch": self.arch()}
