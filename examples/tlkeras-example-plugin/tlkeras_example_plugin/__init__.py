"""An example third-party tlkeras plugin: it adds the `tiny_vgg` backbone."""
