import Foundation

/// Distinct strings numbered 0, 1, ... in order of first sight, found by their exact UTF-8 bytes.
///
/// Strings are compared byte for byte (NFC and NFD spellings stay apart, unlike `ExactKey`) and
/// looked up without making a `String`: ingest and reports number strings by the bytes of a log
/// line or a stored block, and make a `String` (`string(_:)`) only for those they hand out.
public struct ByteStringTable: Sendable {
    /// The strings' bytes, one after another: string n is `bytes[offsets[n]..<offsets[n + 1]]`.
    @usableFromInline var bytes: [UInt8] = []
    @usableFromInline var offsets: [Int] = [0]
    /// Open addressing with linear probing: a slot holds the top 32 bits of its string's hash
    /// above the string's number, or `emptySlot`. A lookup compares bytes only when the hash bits
    /// match, and the slot a string starts from comes from the stored bits, so growing never
    /// rehashes. A power of two long and at most half full.
    @usableFromInline var slots = [UInt64](repeating: ByteStringTable.emptySlot, count: 16)
    @inlinable static var emptySlot: UInt64 { .max }

    public init() {}

    /// How many distinct strings there are.
    @inlinable public var count: Int { offsets.count - 1 }

    /// The number of the string of these UTF-8 bytes, adding it when new.
    @inlinable
    public mutating func intern(_ key: UnsafeRawBufferPointer) -> Int32 {
        let tag = QuickHash.hash(key) >> 32
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: tag) & mask
        while true {
            let e = slots[slot]
            if e == Self.emptySlot { break }
            if e >> 32 == tag {
                let n = Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: e))
                if equals(n, key) { return Int32(n) }
            }
            slot = (slot + 1) & mask
        }
        return add(key, tag: tag, at: slot)
    }

    /// The number of `s`, adding it when new.
    @inlinable
    public mutating func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    /// The number here of each string of `other`, in its order, adding those that are new (to
    /// merge tables filled apart).
    public mutating func intern(contentsOf other: ByteStringTable) -> [Int32] {
        other.bytes.withUnsafeBytes { all in
            (0..<other.count).map { intern(UnsafeRawBufferPointer(rebasing: all[other.offsets[$0]..<other.offsets[$0 + 1]])) }
        }
    }

    /// Whether string `n` has the bytes `key`.
    @inlinable
    func equals(_ n: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = offsets[n]
        guard offsets[n + 1] - start == key.count else { return false }
        return key.isEmpty || bytes.withUnsafeBytes { memcmp($0.baseAddress! + start, key.baseAddress!, key.count) == 0 }
    }

    /// Adds a new string at the free `slot` its lookup ended on; grows the slots when half full.
    @usableFromInline
    mutating func add(_ key: UnsafeRawBufferPointer, tag: UInt64, at slot: Int) -> Int32 {
        let n = count
        precondition(n < Int(Int32.max), "a ByteStringTable holds fewer than 2^31 strings")
        bytes.append(contentsOf: key)
        offsets.append(bytes.count)
        slots[slot] = tag << 32 | UInt64(n)
        if count * 2 > slots.count {
            let old = slots
            slots = [UInt64](repeating: Self.emptySlot, count: old.count * 2)
            let mask = slots.count - 1
            for e in old where e != Self.emptySlot {
                var i = Int(truncatingIfNeeded: e >> 32) & mask
                while slots[i] != Self.emptySlot { i = (i + 1) & mask }
                slots[i] = e
            }
        }
        return Int32(n)
    }

    /// Calls `body` with the bytes of string `n`.
    @inlinable
    public func withBytes<R>(of n: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let range = offsets[Int(n)]..<offsets[Int(n) + 1]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// String `n` as a `String` (made anew on each call).
    public func string(_ n: Int32) -> String {
        withBytes(of: n) { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether string `a` sorts before string `b` by their bytes.
    public func precedes(_ a: Int32, _ b: Int32) -> Bool {
        let (a, b) = (Int(a), Int(b))
        return bytes[offsets[a]..<offsets[a + 1]].lexicographicallyPrecedes(bytes[offsets[b]..<offsets[b + 1]])
    }
}
