/// ClickHouse's `RowBinary` format, written and read by hand.
///
/// Why binary: strings travel as their exact bytes (no escaping rules to get wrong, NFC and NFD
/// spellings stay apart) and 64-bit integers as 8 little-endian bytes (never quoted JSON, never
/// a `Double`); every ClickHouse release since long before 18.16 reads and writes it.
struct RowBinaryWriter: Sendable {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varUInt(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func int64(_ v: Int64) { fixed(v.littleEndian) }
    mutating func uint64(_ v: UInt64) { fixed(v.littleEndian) }
    mutating func uint32(_ v: UInt32) { fixed(v.littleEndian) }
    mutating func uint16(_ v: UInt16) { fixed(v.littleEndian) }
    mutating func uint8(_ v: UInt8) { bytes.append(v) }

    private mutating func fixed<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }

    /// LEB128, the length prefix of a string.
    private mutating func varUInt(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}

/// Reads values of known types from a `RowBinary` answer, failing on truncated input.
struct RowBinaryReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func string() throws(RowBinaryError) -> String {
        let n = try varUInt()
        guard n <= UInt64(bytes.count - offset) else { throw RowBinaryError() }
        let end = offset + Int(n)
        let s = String(decoding: bytes[offset..<end], as: UTF8.self)
        offset = end
        return s
    }

    mutating func int64() throws(RowBinaryError) -> Int64 { try fixed(Int64.self) }
    mutating func uint64() throws(RowBinaryError) -> UInt64 { try fixed(UInt64.self) }
    mutating func uint32() throws(RowBinaryError) -> UInt32 { try fixed(UInt32.self) }
    mutating func uint16() throws(RowBinaryError) -> UInt16 { try fixed(UInt16.self) }
    mutating func uint8() throws(RowBinaryError) -> UInt8 { try fixed(UInt8.self) }

    /// A little-endian integer of `T`'s width.
    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(RowBinaryError) -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - offset >= size else { throw RowBinaryError() }
        var v: T = 0
        for i in 0..<size { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += size
        return v
    }

    private mutating func varUInt() throws(RowBinaryError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw RowBinaryError() }
            let b = bytes[offset]
            offset += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
}

/// A `RowBinary` answer ended early or held an impossible length.
struct RowBinaryError: Error, Sendable {}
