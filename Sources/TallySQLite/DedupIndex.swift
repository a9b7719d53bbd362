import TallyStore

/// The dedup keys accepted inside the window, in memory, with the time each was accepted.
///
/// Durably they live in `seen_keys`, one row (a run) per commit holding its new keys as one blob:
/// appending a run costs one row however many events a commit has, where a row per key would
/// cap ingest at a few hundred thousand events a second. This index is rebuilt from the runs and
/// kept in step with them: the writer reads runs other writers added at the start of each
/// transaction, and undoes its own entries when a batch or transaction rolls back.
///
/// A flat open-addressing table of whole 128-bit keys (exact: keys are compared in full), slotted
/// by a per-process seeded hash: a `Dictionary` spends most of a lookup setting up its hasher, and
/// a commit looks up every event. It costs about 48 bytes of memory per key inside the window.
struct DedupIndex {
    private struct Entry {
        var h1: UInt64
        var h2: UInt64
        /// When the key was accepted; `DedupIndex.empty` for a free slot.
        var at: Int64
    }
    /// A free slot's time. A key taken back by `undo` keeps its slot with `DedupIndex.never`, older than any cutoff.
    private static let empty = Int64.min
    private static let never = Int64.min + 1
    private var slots = [Entry](repeating: Entry(h1: 0, h2: 0, at: DedupIndex.empty), count: 1 << 12)
    private var shift: UInt64 = 64 - 12
    private(set) var count = 0
    /// Every change since `commit()`, to undo on rollback: the key and its previous time.
    private var journal: [(DedupKey, Int64)] = []
    /// The `seen_keys` id up to which runs are in the index.
    var loadedThrough: Int64 = 0
    private var collectAt = 1 << 20

    var mark: Int { journal.count }
    /// The number of slots.
    var capacity: Int { slots.count }

    /// The most keys a size hint reserves room for (about 200 MB), so a wild guess cannot take all memory.
    static let largestHint = 1 << 22

    /// Makes room for `n` more keys at once (growing key by key rehashes many times).
    mutating func reserve(_ n: Int) {
        var size = slots.count
        while (count + n) * 2 > size { size *= 2 }
        if size != slots.count { rebuild(size: size, keepingAfter: DedupIndex.empty) }
    }

    private static func home(_ h1: UInt64, _ h2: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: QuickHash.finish(QuickHash.mix(h1, h2)) >> shift)
    }

    /// A key to admit and the number of its event.
    struct Admission {
        var key: DedupKey
        var event: Int32
    }

    /// The keys that are not nil with their event numbers, ordered by where they sit in a table
    /// of any size (the top bits of their hash), copies of a key in their given order.
    ///
    /// Admitting a batch in this order sweeps the table from start to end instead of jumping
    /// around it, so most lookups find their slot's memory already near at hand.
    static func tableOrder(_ keys: [DedupKey?]) -> [Admission] {
        var bits = 8
        while bits < 16, 1 << bits < keys.count { bits += 1 }
        let shift = UInt64(64 - bits)
        var starts = [Int32](repeating: 0, count: (1 << bits) + 1)
        var homes = [UInt16](repeating: 0, count: keys.count)
        var total = 0
        for (i, k) in keys.enumerated() {
            guard let k else { continue }
            let h = Int(DedupIndex.home(k.h1, k.h2, shift: shift))
            homes[i] = UInt16(h)
            starts[h + 1] += 1
            total += 1
        }
        for b in 0..<(1 << bits) { starts[b + 1] += starts[b] }
        var order = [Admission](repeating: Admission(key: DedupKey(h1: 0, h2: 0), event: 0), count: total)
        for (i, k) in keys.enumerated() {
            guard let k else { continue }
            let h = Int(homes[i])
            order[Int(starts[h])] = Admission(key: k, event: Int32(i))
            starts[h] += 1
        }
        return order
    }

    /// The slot holding `key`, or the free slot where it would go.
    private func slot(of key: DedupKey) -> Int {
        slots.withUnsafeBufferPointer { DedupIndex.slot(of: key, in: $0, shift: shift) }
    }

    private static func slot(of key: DedupKey, in b: UnsafeBufferPointer<Entry>, shift: UInt64) -> Int {
        let mask = b.count - 1
        var s = DedupIndex.home(key.h1, key.h2, shift: shift)
        while b[s].at != DedupIndex.empty, b[s].h1 != key.h1 || b[s].h2 != key.h2 { s = (s + 1) & mask }
        return s
    }

    /// Sets the time of `key` (adding it when new), growing the table past half full.
    private mutating func set(_ key: DedupKey, at: Int64, slot s: Int) {
        if slots[s].at == DedupIndex.empty {
            slots[s] = Entry(h1: key.h1, h2: key.h2, at: at)
            count += 1
            if count * 2 > slots.count { rebuild(size: slots.count * 2, keepingAfter: DedupIndex.empty) }
        } else {
            slots[s].at = at
        }
    }

    /// Whether `key` is new or was accepted at or before `cutoff`; if so it is recorded as accepted `at`.
    mutating func admit(_ key: DedupKey, at: Int64, cutoff: Int64) -> Bool {
        var admitted: [DedupKey] = []
        admit([Admission(key: key, event: 0)], at: at, cutoff: cutoff, into: &admitted) { _ in }
        return !admitted.isEmpty
    }

    /// Admits each key in turn as `admit(_:at:cutoff:)` does, appending the admitted ones to
    /// `admitted` and passing the event of every other one to `duplicate`.
    ///
    /// One call per batch: the room is made first, so the loop runs on the table's memory
    /// without growth checks or per-key access to the table.
    mutating func admit(_ keys: [Admission], at: Int64, cutoff: Int64, into admitted: inout [DedupKey], duplicate: (Int32) -> Void) {
        reserve(keys.count)
        DedupIndex.makeRoom(keys.count, in: &journal)
        DedupIndex.makeRoom(keys.count, in: &admitted)
        let stamp = max(at, DedupIndex.never + 1), shift = self.shift
        var journal = self.journal, added = 0
        self.journal = []
        slots.withUnsafeMutableBufferPointer { b in
            for a in keys {
                let s = DedupIndex.slot(of: a.key, in: UnsafeBufferPointer(b), shift: shift)
                let previous = b[s].at
                if previous > DedupIndex.never, previous > cutoff {
                    duplicate(a.event)
                    continue
                }
                journal.append((a.key, max(previous, DedupIndex.never)))
                if previous == DedupIndex.empty {
                    b[s] = Entry(h1: a.key.h1, h2: a.key.h2, at: stamp)
                    added += 1
                } else {
                    b[s].at = stamp
                }
                admitted.append(a.key)
            }
        }
        self.journal = journal
        count += added
    }

    /// Makes room for `n` more elements, at least doubling (an exact `reserveCapacity` per call
    /// would copy the array every time).
    private static func makeRoom<T>(_ n: Int, in array: inout [T]) {
        if array.count + n > array.capacity { array.reserveCapacity(max(array.count + n, 2 * array.capacity)) }
    }

    /// Adds a committed run's keys (read from `seen_keys`).
    mutating func load(run bytes: UnsafeRawBufferPointer, at: Int64) {
        reserve(bytes.count / 16)
        for i in 0..<(bytes.count / 16) {
            let key = DedupKey(h1: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self)),
                               h2: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)))
            let s = slot(of: key)
            if slots[s].at < at { set(key, at: max(at, DedupIndex.never + 1), slot: s) }
        }
    }

    /// Takes back every change after `mark`.
    mutating func undo(to mark: Int) {
        while journal.count > mark {
            let (key, previous) = journal.removeLast()
            slots[slot(of: key)].at = previous
        }
    }

    /// Makes the changes so far permanent, and now and then drops keys accepted at or before `cutoff`.
    mutating func commit(cutoff: Int64) {
        journal.removeAll(keepingCapacity: journal.count < 1 << 16)
        if count > collectAt {
            rebuild(size: slots.count, keepingAfter: cutoff)
            var size = 1 << 12
            while count * 4 > size { size *= 2 }
            if size < slots.count { rebuild(size: size, keepingAfter: cutoff) }
            collectAt = max(1 << 20, 2 * count)
        }
    }

    /// Re-slots the keys accepted after `cutoff` into a table of `size` slots (a power of two).
    private mutating func rebuild(size: Int, keepingAfter cutoff: Int64) {
        let newShift = UInt64(64 - size.trailingZeroBitCount)
        var table = [Entry](repeating: Entry(h1: 0, h2: 0, at: DedupIndex.empty), count: size)
        var kept = 0
        let mask = size - 1
        table.withUnsafeMutableBufferPointer { b in
            for e in slots where e.at != DedupIndex.empty && e.at > cutoff {
                var s = DedupIndex.home(e.h1, e.h2, shift: newShift)
                while b[s].at != DedupIndex.empty { s = (s + 1) & mask }
                b[s] = e
                kept += 1
            }
        }
        slots = table
        shift = newShift
        count = kept
    }

    /// A run's blob: each key's 16 bytes, little-endian.
    static func run(_ keys: [DedupKey]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: keys.count * 16) { out, count in
            let raw = UnsafeMutableRawBufferPointer(out)
            for (i, k) in keys.enumerated() {
                raw.storeBytes(of: k.h1.littleEndian, toByteOffset: i * 16, as: UInt64.self)
                raw.storeBytes(of: k.h2.littleEndian, toByteOffset: i * 16 + 8, as: UInt64.self)
            }
            count = keys.count * 16
        }
    }
}
