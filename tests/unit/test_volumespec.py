"""The short volume syntax, as Docker Compose v2.40 reads it (expected values from its config output)."""

import pytest

from compose.config.model import BindOptions, Mount, VolumeOptions
from compose.config.volumespec import clean, parse_volume, split_volume


@pytest.mark.parametrize("spec,mount", [
    ("/data", Mount(type="volume", target="/data", volume=VolumeOptions())),
    ("/a", Mount(type="volume", target="/a")),  # Compose's 1-2 character shortcut: no volume block
    ("data:/d:z", Mount(type="volume", source="data", target="/d",
                        bind=BindOptions(selinux="z"), volume=VolumeOptions())),
    ("data:/y:Z,rshared", Mount(type="volume", source="data", target="/y",
                                bind=BindOptions(propagation="rshared", selinux="Z"), volume=VolumeOptions())),
    ("data:/b:cached", Mount(type="volume", source="data", target="/b", volume=VolumeOptions())),
    ("data:/b:foo", Mount(type="volume", source="data", target="/b", volume=VolumeOptions())),
    ("./x:/y:ro,rw", Mount(type="bind", source="./x", target="/y", bind=BindOptions(create_host_path=True))),
    ("./x:/y:z,shared,nocopy", Mount(type="bind", source="./x", target="/y", volume=VolumeOptions(nocopy=True),
                                     bind=BindOptions(propagation="shared", create_host_path=True, selinux="z"))),
    ("/abs//p/:/e/f/../g/", Mount(type="bind", source="/abs//p/", target="/e/g",
                                  bind=BindOptions(create_host_path=True))),
    ("~/x:/f:ro", Mount(type="bind", source="~/x", target="/f", read_only=True,
                        bind=BindOptions(create_host_path=True))),
])
def test_parse_volume(spec, mount):
    assert parse_volume(spec) == mount


@pytest.mark.parametrize("spec,message", [
    ("", "invalid empty volume spec"),
    (":/data", '":/data" is not a valid volume: empty section between colons'),
    ("data:", '"data:" is not a valid volume: empty section between colons'),
    ("/x:/y:ro:z", '"/x:/y:ro:z" is not a valid volume: too many colons'),
    ("data:rel", '"data:rel" is not a valid volume: the container path rel is not absolute'),
])
def test_parse_volume_refuses(spec, message):
    with pytest.raises(ValueError) as info:
        parse_volume(spec)
    assert str(info.value) == message


def test_colons_inside_a_variable_do_not_split():
    assert split_volume("${A:-/x}:/y:ro") == ["${A:-/x}", "/y", "ro"]


@pytest.mark.parametrize("path,cleaned", [("//a//b/", "/a/b"), ("/", "/"), ("//", "/"), ("/a/./b/..", "/a")])
def test_clean_is_gos_path_clean(path, cleaned):
    assert clean(path) == cleaned
