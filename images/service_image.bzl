"""One macro for what every service ships: a static binary, its layer, its image and index.

Both services are built exactly alike; keeping the recipe in one place keeps them alike.
"""

load("@aspect_bazel_lib//lib:expand_template.bzl", "expand_template")
load("@aspect_bazel_lib//lib:transitions.bzl", "platform_transition_filegroup")
load("@rules_go//go:def.bzl", "go_binary")
load("@rules_oci//oci:defs.bzl", "oci_image", "oci_image_index", "oci_load")
load("@rules_pkg//pkg:tar.bzl", "pkg_tar")
load("//libs/metrics:build_info.bzl", "BUILD_INFO_X_DEFS")

def service_image(name, embed, base, source, licenses, platforms, host_platform, app_dir = "/app", port = "8080/tcp", index_visibility = None):
    """Declares <name>_bin, _layer, _labels, _image, _index, _image_host and _load.

    Args:
      name: the service's name: the binary's file name and the image title.
      embed: the service's go_library (package main).
      base: the base image (an oci.pull repository).
      source: the org.opencontainers.image.source label.
      licenses: the org.opencontainers.image.licenses label (an SPDX expression).
      platforms: the platforms of the image index.
      host_platform: the platform of the image oci_load puts in the local docker.
      app_dir: the directory of the binary in the image.
      port: the port the service listens on, as "<port>/tcp".
      index_visibility: visibility of the image index.
    """

    # Pure Go (CGO off, internal linker): a static binary that runs on distroless/static.
    # It is built for whatever platform the index transitions it to; on its own it is Linux only.
    # Under --stamp (--config=release) the commit and version are linked into the build_info
    # metric; unstamped, rules_go drops these -X flags and the binary stays reproducible.
    go_binary(
        name = name + "_bin",
        basename = name,
        embed = [embed],
        pure = "on",
        target_compatible_with = ["@platforms//os:linux"],
        x_defs = BUILD_INFO_X_DEFS,
    )

    # The binary, mode 0755, owned by root so the nonroot user cannot replace it. pkg_tar's
    # fixed mtime keeps the layer reproducible.
    pkg_tar(
        name = name + "_layer",
        srcs = [":" + name + "_bin"],
        mode = "0755",
        owner = "0.0",
        package_dir = app_dir,
    )

    # Labels: revision is added only when stamping (--config=release); otherwise the placeholder
    # line becomes empty and rules_oci skips empty lines.
    expand_template(
        name = name + "_labels",
        out = name + "_labels.txt",
        stamp_substitutions = {"@REVISION@": "org.opencontainers.image.revision={{STABLE_GIT_SHA}}"},
        substitutions = {"@REVISION@": ""},
        template = [
            "org.opencontainers.image.source=" + source,
            "org.opencontainers.image.title=" + name,
            "org.opencontainers.image.licenses=" + licenses,
            "@REVISION@",
        ],
    )

    oci_image(
        name = name + "_image",
        base = base,
        entrypoint = [app_dir + "/" + name],
        exposed_ports = [port],
        labels = ":" + name + "_labels",
        tars = [":" + name + "_layer"],
        user = "65532",
    )

    oci_image_index(
        name = name + "_index",
        images = [":" + name + "_image"],
        platforms = platforms,
        visibility = index_visibility,
    )

    # Local docker: one single-platform image, for the host's CPU.
    platform_transition_filegroup(
        name = name + "_image_host",
        srcs = [":" + name + "_image"],
        target_platform = host_platform,
    )

    oci_load(
        name = name + "_load",
        image = ":" + name + "_image_host",
        repo_tags = ["msgpipe/" + name + ":dev"],
    )
