package cache

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// A Disk file is a header followed by the body:
//
//	offset  size  field
//	0       4     magic "RLYC"
//	4       1     version, 1
//	5       4     n, the length of the metadata block (little endian)
//	9       n     metadata block:
//	                body length      uint64 LE
//	                body CRC-32C     uint32 LE (Castagnoli)
//	                stored-at        int64 LE seconds since 1970 + uint32 LE nanoseconds
//	                key, Content-Type, Cache-Control, ETag, Last-Modified:
//	                                 each a uvarint length and that many bytes
//	                flags            1 byte: bit 0 set for Private; absent in older files
//	9+n     4     CRC-32C of bytes [0, 9+n) (LE)
//	13+n          the body
//
// A file is valid when its header checks out and its size is exactly 13+n plus the body length;
// its body is valid when it matches the body CRC, which Disk checks on every read.
const (
	fileMagic     = "RLYC"
	fileVersion   = 1
	filePrefixLen = 9       // magic, version, metadata length
	maxMetaLen    = 1 << 16 // no sane key and headers come near this; a larger n is corruption

	flagPrivate = 1 << 0 // the flags bit of Meta.Private
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileHeader is a parsed header.
type fileHeader struct {
	key     string
	meta    Meta // meta.Size is the body's length
	bodyCRC uint32
	len     int64 // the header's length in bytes: the body starts here
}

// appendHeader appends the header of a file holding key and a body described by m with checksum
// bodyCRC.
func appendHeader(b []byte, key string, m Meta, bodyCRC uint32) []byte {
	start := len(b)
	b = append(b, fileMagic...)
	b = append(b, fileVersion)
	b = binary.LittleEndian.AppendUint32(b, 0) // n, set below
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Size))
	b = binary.LittleEndian.AppendUint32(b, bodyCRC)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.StoredAt.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.StoredAt.Nanosecond()))
	for _, s := range []string{key, m.ContentType, m.CacheControl, m.ETag, m.LastModified} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	var flags byte
	if m.Private {
		flags |= flagPrivate
	}
	b = append(b, flags)
	binary.LittleEndian.PutUint32(b[start+5:], uint32(len(b)-start-filePrefixLen))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// readHeader reads a header from r, leaving r at the start of the body.
func readHeader(r io.Reader) (fileHeader, error) {
	var prefix [filePrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return fileHeader{}, fmt.Errorf("%w: short header: %w", ErrCorrupt, err)
	}
	n, err := metaLen(prefix[:])
	if err != nil {
		return fileHeader{}, err
	}
	buf := make([]byte, filePrefixLen+n+4)
	copy(buf, prefix[:])
	if _, err := io.ReadFull(r, buf[filePrefixLen:]); err != nil {
		return fileHeader{}, fmt.Errorf("%w: short header: %w", ErrCorrupt, err)
	}
	return parseHeader(buf)
}

// metaLen checks a header's first filePrefixLen bytes and returns the metadata block's length.
func metaLen(prefix []byte) (int, error) {
	if string(prefix[:4]) != fileMagic {
		return 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, prefix[:4])
	}
	if prefix[4] != fileVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, prefix[4], fileVersion)
	}
	n := binary.LittleEndian.Uint32(prefix[5:])
	if n > maxMetaLen {
		return 0, fmt.Errorf("%w: metadata length %d", ErrCorrupt, n)
	}
	return int(n), nil
}

// parseHeader parses a whole header, which must be all of b.
func parseHeader(b []byte) (fileHeader, error) {
	if len(b) < filePrefixLen+4 {
		return fileHeader{}, fmt.Errorf("%w: short header", ErrCorrupt)
	}
	n, err := metaLen(b)
	if err != nil {
		return fileHeader{}, err
	}
	if len(b) != filePrefixLen+n+4 {
		return fileHeader{}, fmt.Errorf("%w: header of %d bytes, metadata length %d", ErrCorrupt, len(b), n)
	}
	end := filePrefixLen + n
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.LittleEndian.Uint32(b[end:]); got != want {
		return fileHeader{}, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	m := b[filePrefixLen:end]
	if len(m) < 8+4+8+4 {
		return fileHeader{}, fmt.Errorf("%w: metadata of %d bytes", ErrCorrupt, len(m))
	}
	h := fileHeader{len: int64(len(b))}
	size := binary.LittleEndian.Uint64(m)
	if size > 1<<62 {
		return fileHeader{}, fmt.Errorf("%w: body length %d", ErrCorrupt, size)
	}
	h.meta.Size = int64(size)
	h.bodyCRC = binary.LittleEndian.Uint32(m[8:])
	sec := int64(binary.LittleEndian.Uint64(m[12:]))
	nsec := binary.LittleEndian.Uint32(m[20:])
	if nsec >= 1e9 {
		return fileHeader{}, fmt.Errorf("%w: stored-at nanoseconds %d", ErrCorrupt, nsec)
	}
	h.meta.StoredAt = time.Unix(sec, int64(nsec)).UTC()
	m = m[24:]
	for _, s := range []*string{&h.key, &h.meta.ContentType, &h.meta.CacheControl, &h.meta.ETag, &h.meta.LastModified} {
		l, k := binary.Uvarint(m)
		if k <= 0 || l > uint64(len(m)-k) {
			return fileHeader{}, fmt.Errorf("%w: bad string in metadata", ErrCorrupt)
		}
		*s = string(m[k : k+int(l)])
		m = m[k+int(l):]
	}
	if len(m) > 0 {
		if m[0]&^flagPrivate != 0 {
			return fileHeader{}, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, m[0])
		}
		h.meta.Private = m[0]&flagPrivate != 0
		m = m[1:]
	}
	if len(m) != 0 {
		return fileHeader{}, fmt.Errorf("%w: %d stray bytes after metadata", ErrCorrupt, len(m))
	}
	return h, nil
}
