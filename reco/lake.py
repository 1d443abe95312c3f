"""Parquet roots on an object store: ``s3://bucket/prefix`` (and ``gs://``, ``abfs://``,
``abfss://``, ``file://``, which the same code path gives), for ``reco load --parquet``,
``reco export-sources``, ``reco export-marts`` and ``--marts parquet:URI``.

A plain path (no ``scheme://``) is a local folder and never comes here: the local code paths
(fsync, atomic rename) are unchanged. A URI is opened with ``pyarrow.fs.FileSystem.from_uri``
(pyarrow is already a dependency; no fsspec), and Polars reads the same URIs with its own
object-store client. Both take credentials and endpoint from the standard environment:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``), ``AWS_REGION``,
``AWS_ENDPOINT_URL`` (an S3-compatible server: MinIO, Ceph, moto), or an instance profile; for
``gs://`` ``GOOGLE_APPLICATION_CREDENTIALS``, for ``abfs://`` ``AZURE_STORAGE_ACCOUNT_NAME`` /
``AZURE_STORAGE_ACCOUNT_KEY`` (those two are not tested here).

What an object store gives, and what the landing protocol builds on (docs/ingestion.md,
"Parquet landing on an object store"): one object's PUT (or a multipart upload's completion) is
atomic, a reader sees the whole object or none; a listing after a write sees it (S3 has been
strongly consistent since 2020; GCS and ADLS always were); there is no rename: a server-side
copy then a delete, two requests, not atomic together.
"""

from __future__ import annotations

import contextlib
import re

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs

from reco.errors import RecoError

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: S3's CopyObject copies at most 5 GiB in one request; a larger object is copied as a stream.
COPY_LIMIT = 5 * 1024**3


def is_uri(root: object) -> bool:
    """Whether ``root`` names an object-store location (``scheme://…``) rather than a folder."""
    return isinstance(root, str) and _URI.match(root) is not None


def hidden(name: str) -> bool:
    """A name Spark and Hadoop's readers skip (``_SUCCESS``, ``.x.parquet.tmp``)."""
    return name.startswith((".", "_"))


class Store:
    """A Parquet root on an object store: ``uri`` (no trailing ``/``), its ``pyarrow.fs``
    filesystem, and the object operations the landing and the marts need. Paths are given
    as parts under the root (``store.uri_of("sales_line", "b1.parquet")``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        try:
            self.fs, self.base = pafs.FileSystem.from_uri(self.uri)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise RecoError(f"{self.uri}: cannot open this location ({exc})") from exc
        self.base = self.base.rstrip("/")
        if not isinstance(self.fs, pafs.LocalFileSystem):
            bucket = self.base.split("/", 1)[0]
            if self._info(bucket).type == pafs.FileType.NotFound:
                raise RecoError(f"{self.uri}: no bucket (or container) {bucket!r} at this endpoint")

    def __str__(self) -> str:
        return self.uri

    def _info(self, path: str) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(path)
        except (pa.ArrowException, OSError) as exc:
            raise RecoError(f"{self.uri}: {exc}") from exc

    def path(self, *parts: str) -> str:
        """The filesystem path (``bucket/prefix/…``) of ``parts`` under the root."""
        return "/".join([self.base, *parts])

    def writable(self, *parts: str) -> str:
        """The path of ``parts``, ready to be written: an object store needs no folder; a
        ``file://`` root gets its parent folders."""
        path = self.path(*parts)
        if isinstance(self.fs, pafs.LocalFileSystem):
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        return path

    def uri_of(self, *parts: str) -> str:
        return "/".join([self.uri, *parts])

    def exists(self, *parts: str) -> bool:
        return self._info(self.path(*parts)).type != pafs.FileType.NotFound

    def is_dir(self, *parts: str) -> bool:
        """Whether objects exist under ``parts/`` (a "folder" of an object store)."""
        return self._info(self.path(*parts)).type == pafs.FileType.Directory

    def is_file(self, *parts: str) -> bool:
        return self._info(self.path(*parts)).type == pafs.FileType.File

    def names(self, *folder: str, recursive: bool = False) -> list[str]:
        """The objects directly in ``folder`` (or under it, as relative paths), sorted; [] when
        there is none."""
        prefix = self.path(*folder)
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(prefix, allow_not_found=True, recursive=recursive)
            )
        except (pa.ArrowException, OSError) as exc:
            raise RecoError(f"{self.uri_of(*folder)}: {exc}") from exc
        return sorted(i.path[len(prefix) + 1 :] for i in infos if i.type == pafs.FileType.File)

    def parquet_files(self, *folder: str) -> list[str]:
        """The URIs of the visible Parquet objects in ``folder`` (``*.parquet``, no hidden name)."""
        return [
            self.uri_of(*folder, n) for n in self.names(*folder) if n.endswith(".parquet") and not hidden(n)
        ]

    def put_parquet(self, frame: pl.DataFrame, *parts: str) -> str:
        """Write ``frame`` as one object (one PUT or multipart upload: atomic for a reader)."""
        with self.fs.open_output_stream(self.writable(*parts)) as out:
            frame.write_parquet(out, compression="zstd")
        return self.uri_of(*parts)

    def put_bytes(self, data: bytes, *parts: str) -> None:
        with self.fs.open_output_stream(self.writable(*parts)) as out:
            out.write(data)

    def copy(self, source: tuple[str, ...], target: tuple[str, ...]) -> None:
        """Copy one object to another name: server-side (one request) up to ``COPY_LIMIT``,
        streamed above it; the target appears whole or not at all either way."""
        src, dst = self.path(*source), self.writable(*target)
        info = self._info(src)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(src)
        if info.size is not None and info.size > COPY_LIMIT:
            with self.fs.open_input_stream(src) as inp, self.fs.open_output_stream(dst) as out:
                while chunk := inp.read(64 * 1024**2):
                    out.write(chunk)
        else:
            self.fs.copy_file(src, dst)

    def delete(self, *parts: str) -> None:
        """Delete one object; an object already gone is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(*parts))

    def schema(self, uri: str) -> pl.Schema:
        """The Polars schema of one Parquet object, as ``pl.scan_parquet`` reads it."""
        return pl.scan_parquet(uri).collect_schema()
