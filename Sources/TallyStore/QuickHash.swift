/// A fast hash for the hot maps of ingest (interned strings, series, cells), seeded per process
/// so crafted input cannot aim many keys at one slot. Not for anything persisted.
public enum QuickHash {
    public static let seed = UInt64.random(in: 0...UInt64.max) | 1

    /// Mixes one 64-bit word into `h`.
    @inlinable
    public static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
        return x ^ (x >> 29)
    }

    /// The hash of `bytes`, eight at a time.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = seed ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            h = mix(h, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        return finish(mix(h, tail))
    }

    @inlinable
    public static func finish(_ h: UInt64) -> UInt64 {
        var x = h &* seed
        x ^= x >> 32
        return x &* 0xD6E8_FEB8_6659_FD93
    }
}
