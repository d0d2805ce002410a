"""Unpacks the GPU check payload with Python's standard library only (the GPU host may have no xz,
tar or dpkg): FILE.xz -> FILE, *.tar.xz -> a folder, a .deb -> its data tree.
Usage: unpack.py xz SRC DEST | tar SRC DIR | deb SRC DIR"""
import io
import lzma
import os
import shutil
import sys
import tarfile


def deb_members(path):
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise SystemExit(f"{path} is not a .deb (ar archive)")
        while True:
            head = f.read(60)
            if len(head) < 60:
                return
            name, size = head[:16].decode().strip().rstrip("/"), int(head[48:58].decode().strip())
            data = f.read(size)
            if size % 2:
                f.read(1)
            yield name, data


def main():
    mode, src, dest = sys.argv[1:4]
    if mode == "xz":
        with lzma.open(src) as i, open(dest + ".part", "wb") as o:
            shutil.copyfileobj(i, o, 1 << 22)
        os.replace(dest + ".part", dest)
        os.chmod(dest, 0o755)
    elif mode == "tar":
        with tarfile.open(src, "r:xz") as t:
            t.extractall(dest)
    elif mode == "deb":
        for name, data in deb_members(src):
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    raise SystemExit("zstd-compressed .deb: Python cannot unpack it; use dpkg -x")
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
                    t.extractall(dest)
                return
        raise SystemExit(f"{src}: no data.tar member")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
