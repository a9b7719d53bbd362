import TallyCore

/// The key deduplication compares: a 128-bit hash of an event's `source` and `id`.
///
/// MurmurHash3 (x64, 128-bit, seed 0) of the UTF-8 bytes of `source + "\u{1F}" + id`. Stores
/// persist it, so it must never change. With 128 bits an accidental collision (which would drop
/// a real event as a duplicate) is practically impossible: about 10^-19 for 10^10 live keys.
public struct DedupKey: Hashable, Sendable {
    public var h1: UInt64
    public var h2: UInt64

    public init(h1: UInt64, h2: UInt64) {
        self.h1 = h1
        self.h2 = h2
    }

    /// The key of an event with this source (nil: none) and id.
    public init(source: String?, id: String) {
        var s = source ?? "", i = id
        self = s.withUTF8 { s in i.withUTF8 { DedupKey(source: UnsafeRawBufferPointer(s), id: UnsafeRawBufferPointer($0)) } }
    }

    /// The key of an event whose source (empty: none) and id are these UTF-8 bytes.
    ///
    /// Joins them on the stack rather than in an array, as decoders call it once per event.
    public init(source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) {
        let n = source.count + 1 + id.count
        self = withUnsafeTemporaryAllocation(byteCount: n, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            if source.count > 0 { base.copyMemory(from: source.baseAddress!, byteCount: source.count) }
            base.storeBytes(of: 0x1F as UInt8, toByteOffset: source.count, as: UInt8.self)
            if id.count > 0 { (base + source.count + 1).copyMemory(from: id.baseAddress!, byteCount: id.count) }
            return DedupKey(hashing: UnsafeRawBufferPointer(start: base, count: n))
        }
    }

    /// MurmurHash3_x64_128 of `data`, seed 0.
    public init(hashing data: UnsafeRawBufferPointer) {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5, c2: UInt64 = 0x4cf5_ad43_2745_937f
        var h1: UInt64 = 0, h2: UInt64 = 0
        let n = data.count
        let blocks = n / 16
        for b in 0..<blocks {
            var k1 = data.loadUnaligned(fromByteOffset: b * 16, as: UInt64.self).littleEndian
            var k2 = data.loadUnaligned(fromByteOffset: b * 16 + 8, as: UInt64.self).littleEndian
            k1 = k1 &* c1; k1 = k1.rotl(31); k1 = k1 &* c2; h1 ^= k1
            h1 = h1.rotl(27); h1 = h1 &+ h2; h1 = h1 &* 5 &+ 0x52dc_e729
            k2 = k2 &* c2; k2 = k2.rotl(33); k2 = k2 &* c1; h2 ^= k2
            h2 = h2.rotl(31); h2 = h2 &+ h1; h2 = h2 &* 5 &+ 0x3849_5ab5
        }
        let tail = blocks * 16
        var k1: UInt64 = 0, k2: UInt64 = 0
        for i in stride(from: n - tail - 1, through: 8, by: -1) { k2 ^= UInt64(data[tail + i]) << (8 * UInt64(i - 8)) }
        if n - tail > 8 { k2 = k2 &* c2; k2 = k2.rotl(33); k2 = k2 &* c1; h2 ^= k2 }
        for i in stride(from: min(n - tail, 8) - 1, through: 0, by: -1) { k1 ^= UInt64(data[tail + i]) << (8 * UInt64(i)) }
        if n - tail > 0 { k1 = k1 &* c1; k1 = k1.rotl(31); k1 = k1 &* c2; h1 ^= k1 }
        h1 ^= UInt64(n); h2 ^= UInt64(n)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        h1 = DedupKey.fmix(h1); h2 = DedupKey.fmix(h2)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        self.init(h1: h1, h2: h2)
    }

    static func fmix(_ k0: UInt64) -> UInt64 {
        var k = k0
        k ^= k >> 33; k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33; k = k &* 0xc4ce_b9fe_1a85_ec53
        return k ^ (k >> 33)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(h1) }
}

extension UInt64 {
    fileprivate func rotl(_ r: UInt64) -> UInt64 { (self << r) | (self >> (64 - r)) }
}

/// A string compared and hashed by its exact UTF-8 bytes (Swift's `==` would merge canonically
/// equivalent spellings such as NFC and NFD "café", which are different accounts or values here).
public struct ExactKey: Hashable, Sendable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public static func == (a: ExactKey, b: ExactKey) -> Bool {
        var x = a.value, y = b.value  // native strings: `withUTF8` reads in place, with no copy
        guard x.utf8.count == y.utf8.count else { return false }
        return x.withUTF8 { p in y.withUTF8 { q in ExactKey.equal(UnsafeRawBufferPointer(p), UnsafeRawBufferPointer(q)) } }
    }

    /// Whether two runs of bytes of the same length are equal, compared eight bytes at a time.
    static func equal(_ p: UnsafeRawBufferPointer, _ q: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= p.count {
            if p.loadUnaligned(fromByteOffset: i, as: UInt64.self) != q.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < p.count {
            if p[i] != q[i] { return false }
            i += 1
        }
        return true
    }
    public func hash(into hasher: inout Hasher) {
        var s = value
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Validated events in columns, as decoders build them and stores commit them.
///
/// Each distinct string (account, product, source, dimension value) is kept once and each event
/// names its series (account, product and dimension values) by number, so a million events are
/// a handful of flat arrays rather than a million objects with their own strings and arrays.
public struct EventColumns: Sendable {
    /// A series: lane 0 is the account, lane 1 the product, lanes 2... the dimension values, each
    /// a number in `strings`; -1 past the product's last dimension.
    public typealias Series = SIMD16<Int32>

    /// Distinct strings, compared by exact bytes.
    public private(set) var strings: [String] = []
    public private(set) var series: [Series] = []
    /// The number of metric values of each series' product.
    public private(set) var seriesMetricCounts: [Int] = []
    /// Per event: its series, time (epoch seconds), dedup key, and `metricStride` metric values.
    public private(set) var eventSeries: [Int32] = []
    public private(set) var times: [Int64] = []
    public private(set) var keys: [DedupKey?] = []
    public private(set) var metrics: [Int64] = []
    public let metricStride: Int
    // The id and source of each event, kept only to give `events` back whole.
    private var sources: [Int32] = []
    private var idBytes: [UInt8] = []
    private var idStarts: [Int32] = []  // -1: no id
    private var idLengths: [Int32] = []
    private var stringNumbers: [ExactKey: Int32] = [:]
    /// Open-addressing index of `series` (a series is looked up per event): a slot holds the top
    /// 32 bits of the series' hash above its number, or `emptySlot`. The slot a series starts
    /// from comes from the stored hash bits, so growing never rehashes a series.
    private var seriesSlots = [UInt64](repeating: EventColumns.emptySlot, count: 1 << 10)
    private static let emptySlot = UInt64.max
    private let seriesSeed = QuickHash.seed

    public init(metricStride: Int = ProductSpec.maxMetrics) {
        self.metricStride = metricStride
    }

    /// Columns holding `events`, in order.
    public init(_ events: [UsageEvent]) {
        self.init(metricStride: max(1, events.map(\.metrics.count).max() ?? 1))
        for e in events { append(e) }
    }

    public var count: Int { times.count }
    public var isEmpty: Bool { times.isEmpty }

    /// The number of `s` in `strings`, adding it when new.
    public mutating func intern(_ s: String) -> Int32 {
        if let n = stringNumbers[ExactKey(s)] { return n }
        let n = Int32(strings.count)
        strings.append(s)
        stringNumbers[ExactKey(s)] = n
        return n
    }

    /// Reserves room for `events` more events, so a decoder appends without regrowing.
    public mutating func reserveCapacity(events: Int) {
        let n = count + events
        eventSeries.reserveCapacity(n)
        times.reserveCapacity(n)
        keys.reserveCapacity(n)
        metrics.reserveCapacity(n * metricStride)
        sources.reserveCapacity(n)
        idStarts.reserveCapacity(n)
        idLengths.reserveCapacity(n)
        idBytes.reserveCapacity(idBytes.count + events * 24)
    }

    /// The number of a series if it is known.
    ///
    /// Decoders look a series up as soon as they know it and add it (`seriesNumber`) only once the
    /// event proves valid: the table is far bigger than the caches, and work done in between
    /// overlaps the lookup's cache misses.
    public func knownSeriesNumber(_ s: Series) -> Int32? {
        find(s, hash(s) >> 32).1
    }

    /// The slot of `s` (where it would go when absent) and its number when present.
    private func find(_ s: Series, _ tag: UInt64) -> (Int, Int32?) {
        let mask = seriesSlots.count - 1
        var slot = Int(tag) & mask
        while true {
            let e = seriesSlots[slot]
            if e == EventColumns.emptySlot { return (slot, nil) }
            if e >> 32 == tag, series[Int(UInt32(truncatingIfNeeded: e))] == s { return (slot, Int32(truncatingIfNeeded: e)) }
            slot = (slot + 1) & mask
        }
    }

    /// The number of a series (whose product has `metricCount` metrics), adding it when new.
    public mutating func seriesNumber(_ s: Series, metricCount: Int) -> Int32 {
        let tag = hash(s) >> 32
        let (slot, found) = find(s, tag)
        if let found { return found }
        var mask = seriesSlots.count - 1
        let n = Int32(series.count)
        series.append(s)
        seriesMetricCounts.append(metricCount)
        seriesSlots[slot] = tag << 32 | UInt64(n)
        if series.count * 2 > seriesSlots.count {
            let old = seriesSlots
            seriesSlots = [UInt64](repeating: EventColumns.emptySlot, count: old.count * 2)
            mask = seriesSlots.count - 1
            for e in old where e != EventColumns.emptySlot {
                var slot = Int(e >> 32) & mask
                while seriesSlots[slot] != EventColumns.emptySlot { slot = (slot + 1) & mask }
                seriesSlots[slot] = e
            }
        }
        return n
    }

    /// A hash of all 16 lanes, multiplied lane by lane (independent multiplies) and then folded.
    private func hash(_ s: Series) -> UInt64 {
        var v = unsafeBitCast(s, to: SIMD8<UInt64>.self) ^ SIMD8(repeating: seriesSeed)
        v &*= SIMD8(0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0xD6E8_FEB8_6659_FD93,
                    0xFF51_AFD7_ED55_8CCD, 0xC4CE_B9FE_1A85_EC53, 0x8796_3F2C_4E5B_7A1D, 0xA076_1D64_78BD_642F)
        v ^= v &>> 29
        var h = v.wrappedSum()
        h ^= h >> 32
        h &*= 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 29)
    }

    /// A series of interned account, product and dimension values.
    public static func series(account: Int32, product: Int32, dimensions: [Int32]) -> Series {
        precondition(dimensions.count <= 14, "a series has room for 14 dimensions")
        var s = Series(repeating: -1)
        s[0] = account
        s[1] = product
        for i in dimensions.indices { s[2 + i] = dimensions[i] }
        return s
    }

    /// Appends one event; `id` is its UTF-8 bytes, `source` an interned string or nil.
    public mutating func append(series s: Int32, time: Int64, metrics m: UnsafeBufferPointer<Int64>, source: Int32?, id: UnsafeRawBufferPointer?) {
        var key: DedupKey?
        if let id {
            var text = source.map { strings[Int($0)] } ?? ""
            key = text.withUTF8 { DedupKey(source: UnsafeRawBufferPointer($0), id: id) }
        }
        append(series: s, time: time, metrics: m, source: source, id: id, key: key)
    }

    /// Appends one event whose dedup key the caller has computed: `DedupKey(source:id:)` of its
    /// source's and id's bytes when it has an id, else nil (decoders hash straight from their input).
    public mutating func append(series s: Int32, time: Int64, metrics m: UnsafeBufferPointer<Int64>, source: Int32?, id: UnsafeRawBufferPointer?, key: DedupKey?) {
        precondition(m.count <= metricStride && (id == nil) == (key == nil))
        eventSeries.append(s)
        times.append(time)
        metrics.append(contentsOf: m)
        if m.count < metricStride { metrics.append(contentsOf: repeatElement(0, count: metricStride - m.count)) }
        sources.append(source ?? -1)
        keys.append(key)
        if let id {
            idStarts.append(Int32(idBytes.count))
            idLengths.append(Int32(id.count))
            idBytes.append(contentsOf: id)
        } else {
            idStarts.append(-1)
            idLengths.append(0)
        }
    }

    /// Appends one event given as strings.
    public mutating func append(_ e: UsageEvent) {
        let dims = e.dimensions.map { intern($0) }
        let s = seriesNumber(EventColumns.series(account: intern(e.account), product: intern(e.product), dimensions: dims), metricCount: e.metrics.count)
        let source = e.source.map { intern($0) }
        var id = e.id
        e.metrics.withUnsafeBufferPointer { m in
            if id != nil {
                id!.withUTF8 { append(series: s, time: e.time, metrics: m, source: source, id: UnsafeRawBufferPointer($0)) }
            } else {
                append(series: s, time: e.time, metrics: m, source: source, id: nil)
            }
        }
    }

    /// Appends every event of `other`, renumbering its strings and series into these.
    public mutating func append(contentsOf other: EventColumns) {
        precondition(other.metricStride <= metricStride)
        let stringMap = other.strings.map { intern($0) }
        let seriesMap = zip(other.series, other.seriesMetricCounts).map { s, metricCount -> Int32 in
            var t = s
            for lane in 0..<16 where s[lane] >= 0 { t[lane] = stringMap[Int(s[lane])] }
            return seriesNumber(t, metricCount: metricCount)
        }
        let idBase = Int32(idBytes.count)
        eventSeries.append(contentsOf: other.eventSeries.lazy.map { seriesMap[Int($0)] })
        times.append(contentsOf: other.times)
        keys.append(contentsOf: other.keys)
        if other.metricStride == metricStride {
            metrics.append(contentsOf: other.metrics)
        } else {
            for i in 0..<other.count {
                metrics.append(contentsOf: other.metrics[(i * other.metricStride)..<((i + 1) * other.metricStride)])
                for _ in other.metricStride..<metricStride { metrics.append(0) }
            }
        }
        sources.append(contentsOf: other.sources.lazy.map { $0 < 0 ? -1 : stringMap[Int($0)] })
        idBytes.append(contentsOf: other.idBytes)
        idStarts.append(contentsOf: other.idStarts.lazy.map { $0 < 0 ? -1 : $0 + idBase })
        idLengths.append(contentsOf: other.idLengths)
    }

    /// The dimension values of a series, as string numbers.
    public func dimensions(of s: Series) -> [Int32] {
        var out: [Int32] = []
        var lane = 2
        while lane < 16, s[lane] >= 0 {
            out.append(s[lane])
            lane += 1
        }
        return out
    }

    /// The metric values of event `i` (as many as its product has).
    public func metricValues(at i: Int) -> ArraySlice<Int64> {
        let start = i * metricStride
        return metrics[start..<(start + seriesMetricCounts[Int(eventSeries[i])])]
    }

    /// Event `i` as a `UsageEvent`.
    public func event(at i: Int) -> UsageEvent {
        let s = series[Int(eventSeries[i])]
        let id = idStarts[i] < 0 ? nil : String(decoding: idBytes[Int(idStarts[i])..<Int(idStarts[i] + idLengths[i])], as: UTF8.self)
        return UsageEvent(id: id, source: sources[i] < 0 ? nil : strings[Int(sources[i])], time: times[i],
                          account: strings[Int(s[0])], product: strings[Int(s[1])],
                          dimensions: dimensions(of: s).map { strings[Int($0)] }, metrics: Array(metricValues(at: i)))
    }

    /// Every event as a `UsageEvent`, in order.
    public var events: [UsageEvent] { (0..<count).map { event(at: $0) } }
}
