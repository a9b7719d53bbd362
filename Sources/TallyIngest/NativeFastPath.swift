import Foundation
import TallyCore
import TallyStore

/// Decodes native event lines of the usual shape straight into columns, with no JSON tree and
/// no String per value: field names are matched as bytes, values interned by their bytes (so a
/// repeated value is validated and copied once), times and numbers parsed in place.
///
/// It only ever accepts a line the general path (`JSONParser` + `EventValidator.native`) would
/// accept, with the same result; anything else (escapes, unusual types, duplicate fields, any
/// invalid value) returns false and the line goes to the general path, which also words the error.
struct NativeFastPath {
    let validator: EventValidator
    private let products: [ProductBytes]
    private let metricStride: Int
    /// The latest time accepted (`now + maxFuture`).
    private let latest: Int64
    private var interner = ByteInterner()
    private var emptyNumber: Int32 = -1
    /// Per place a value is interned from (`intern`), its entry on the previous line; -1: none.
    private var recent = InlineArray<17, Int32>(repeating: -1)

    struct ProductBytes {
        var name: String
        var dimensions: [[UInt8]]
        var metrics: [[UInt8]]
        var scales: [Int]
    }

    init(validator: EventValidator) {
        self.validator = validator
        products = validator.catalog.products.map { p in
            ProductBytes(name: p.name, dimensions: p.dimensions.map { Array($0.utf8) }, metrics: p.metrics.map { Array($0.name.utf8) },
                         scales: p.metrics.map(\.kind.scale))
        }
        metricStride = validator.metricStride
        latest = validator.now + validator.maxFuture
    }

    private enum Field: Int { case id, source, time, account, product, dimensions, metrics }

    /// Appends the event on the line of `u` that begins at `start` to `columns` and returns where
    /// the line ends (its newline, or `u.count`); nil (and nothing appended) when the line is not
    /// of the usual shape.
    ///
    /// The scan finds the line's end itself (a newline is not whitespace here), so the caller
    /// need not look for it first.
    mutating func decode(_ u: UnsafeBufferPointer<UInt8>, from start: Int, into columns: inout EventColumns) -> Int? {
        var s = Scanner(u: u, i: start)
        var id: Range<Int>?, source: Range<Int>?, time: Range<Int>?, account: Range<Int>?, product: Range<Int>?
        var dimensionPairs = Pairs(base: start), metricPairs = Pairs(base: start)
        var seen = 0  // a bit per field: a repeated field goes to the general path
        s.skipWhitespace()
        guard s.take(UInt8(ascii: "{")) else { return nil }
        s.skipWhitespace()
        if s.peek == UInt8(ascii: "}") { return nil }
        while true {
            guard let key = s.simpleString(), let field = NativeFastPath.field(u.slice(key)), seen & (1 << field.rawValue) == 0 else { return nil }
            seen |= 1 << field.rawValue
            s.skipWhitespace()
            guard s.take(UInt8(ascii: ":")) else { return nil }
            s.skipWhitespace()
            switch field {
            case .id: guard let r = s.stringOrNumber() else { return nil }; id = r
            case .source: guard let r = s.stringOrNumber() else { return nil }; source = r
            case .time: guard let r = s.simpleString() else { return nil }; time = r
            case .account: guard let r = s.simpleString() else { return nil }; account = r
            case .product: guard let r = s.simpleString() else { return nil }; product = r
            case .dimensions: guard s.pairs(into: &dimensionPairs, allowLiterals: true) else { return nil }
            case .metrics: guard s.pairs(into: &metricPairs, allowLiterals: false) else { return nil }
            }
            s.skipWhitespace()
            if s.take(UInt8(ascii: ",")) {
                s.skipWhitespace()
                continue
            }
            guard s.take(UInt8(ascii: "}")) else { return nil }
            break
        }
        s.skipWhitespace()
        guard s.atLineEnd, let time, let account, let product else { return nil }
        return event(u, id: id, source: source, time: time, account: account, product: product,
                     dimensionPairs, metricPairs, into: &columns) ? s.i : nil
    }

    /// Validates and appends the event whose fields are these ranges of `u`, or returns false.
    private mutating func event(_ u: UnsafeBufferPointer<UInt8>, id: Range<Int>?, source: Range<Int>?, time: Range<Int>, account: Range<Int>,
                                product: Range<Int>, _ dimensionPairs: Pairs, _ metricPairs: Pairs, into columns: inout EventColumns) -> Bool {

        // Validate exactly as `EventValidator.event` does; any doubt goes to the general path.
        guard let instant = RFC3339.parse(bytes: u.slice(time)), instant >= 0, instant <= latest,
              let a = intern(u, account, &columns, place: 0) else { return false }
        var accountID = interner.entries[a].account
        if accountID == ByteInterner.unresolved { accountID = resolveAccount(a, &columns) }
        guard accountID >= 0, let pe = intern(u, product, &columns, place: 1) else { return false }
        var product32 = interner.entries[pe].product
        if product32 == ByteInterner.unresolved { product32 = resolveProduct(pe, &columns) }
        guard product32 >= 0 else { return false }
        let p = Int(product32)
        if let id {
            guard !id.isEmpty, id.count <= EventValidator.maxValueBytes, isValidUTF8(u.slice(id)) else { return false }
        }
        var sourceNumber: Int32?
        if let source {
            guard source.count <= EventValidator.maxValueBytes, let n = intern(u, source, &columns, place: 2) else { return false }
            sourceNumber = interner.entries[n].number
        }
        if emptyNumber < 0 { emptyNumber = columns.intern("") }
        let dimensionCount = products[p].dimensions.count
        guard dimensionCount <= 14 else { return false }
        // The series' lanes are written in memory and loaded as one vector (lane by lane into a
        // vector register stalls on every store).
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 16) { lanes in
            lanes.initialize(repeating: -1)
            lanes[0] = accountID
            lanes[1] = interner.entries[pe].number
            for i in 0..<dimensionCount { lanes[2 + i] = emptyNumber }
            for k in 0..<dimensionPairs.count {
                let (name, value) = dimensionPairs[k]
                guard let i = NativeFastPath.index(of: u.slice(name), in: products[p].dimensions, guess: k),
                      value.count <= EventValidator.maxValueBytes,
                      let n = intern(u, value, &columns, place: 3 + i) else { return false }
                lanes[2 + i] = interner.entries[n].number
            }
            let series = UnsafeRawPointer(lanes.baseAddress!).loadUnaligned(as: EventColumns.Series.self)
            let known = columns.knownSeriesNumber(series)  // early: the metrics are parsed while it misses the caches
            return withUnsafeTemporaryAllocation(of: Int64.self, capacity: metricStride) { values in
                values.initialize(repeating: 0)
                for k in 0..<metricPairs.count {
                    let (name, value) = metricPairs[k]
                    guard let i = NativeFastPath.index(of: u.slice(name), in: products[p].metrics, guess: k),
                          case .success(let v) = Exact.parse(bytes: u.slice(value), scale: products[p].scales[i]) else { return false }
                    values[i] = v
                }
                let number = known ?? columns.seriesNumber(series, metricCount: products[p].metrics.count)
                let idBytes = id.map { UnsafeRawBufferPointer(u.slice($0)) }
                let key = idBytes.map { DedupKey(source: source.map { UnsafeRawBufferPointer(u.slice($0)) } ?? UnsafeRawBufferPointer(start: nil, count: 0), id: $0) }
                columns.append(series: number, time: instant, metrics: UnsafeBufferPointer(values), source: sourceNumber, id: idBytes, key: key)
                return true
            }
        }
    }

    /// The field a key names, matched by length and bytes.
    private static func field(_ k: UnsafeBufferPointer<UInt8>) -> Field? {
        switch k.count {
        case 2: return matches(k, "id") ? .id : nil
        case 4: return matches(k, "time") ? .time : nil
        case 6: return matches(k, "source") ? .source : nil
        case 7: return matches(k, "account") ? .account : matches(k, "product") ? .product : matches(k, "metrics") ? .metrics : nil
        case 10: return matches(k, "dimensions") ? .dimensions : nil
        default: return nil
        }
    }

    private static func matches(_ k: UnsafeBufferPointer<UInt8>, _ word: StaticString) -> Bool {
        let w = word.utf8Start
        for i in 0..<k.count where k[i] != w[i] { return false }
        return true
    }

    /// The index of `name` among `names`, trying `guess` first (fields usually come in configuration order).
    private static func index(of name: UnsafeBufferPointer<UInt8>, in names: [[UInt8]], guess: Int) -> Int? {
        if guess < names.count, equal(name, names[guess]) { return guess }
        return names.firstIndex { equal(name, $0) }
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: [UInt8]) -> Bool {
        a.count == b.count && b.withUnsafeBufferPointer { ByteInterner.same(a, $0.baseAddress) }
    }

    /// The interner entry of the bytes `r` of `u`, adding them to `columns.strings` when new; nil when they
    /// are not valid UTF-8.
    ///
    /// `place` names where the value stands (account, product, source, a dimension): the entry the
    /// same place had on the previous line is tried before hashing, as lines often repeat it.
    private mutating func intern(_ u: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ columns: inout EventColumns, place: Int) -> Int? {
        let bytes = u.slice(r)
        let w = ByteInterner.words(bytes, readable: u.count - r.lowerBound)
        let last = Int(recent[place])
        if last >= 0, interner.holds(last, bytes, w) { return last }
        let key = interner.key(bytes, w)
        let e: Int
        if let found = interner.find(bytes, key) {
            e = found
        } else {
            guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
            e = interner.insert(bytes, key, number: columns.intern(s))
        }
        recent[place] = Int32(truncatingIfNeeded: e)
        return e
    }

    private mutating func resolveAccount(_ e: Int, _ columns: inout EventColumns) -> Int32 {
        let v = validator
        var id: Int32 = -1
        if let a = v.accounts.resolve(columns.strings[Int(interner.entries[e].number)]), v.scope.map({ v.accounts.isWithin(a.id, subtreeOf: $0) }) ?? true {
            id = columns.intern(a.id)
        }
        interner.entries[e].account = id
        return id
    }

    private mutating func resolveProduct(_ e: Int, _ columns: inout EventColumns) -> Int32 {
        let name = columns.strings[Int(interner.entries[e].number)]
        let p = Int32(products.firstIndex { $0.name.utf8.elementsEqual(name.utf8) } ?? -1)
        interner.entries[e].product = p
        return p
    }

    /// ASCII is checked eight bytes at a time; anything else is validated in full.
    private func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = b.baseAddress.map(UnsafeRawPointer.init) else { return true }
        var i = 0
        while i + 8 <= b.count {
            if p.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return String(validating: b, as: UTF8.self) != nil }
            i += 8
        }
        while i < b.count {
            if b[i] >= 0x80 { return String(validating: b, as: UTF8.self) != nil }
            i += 1
        }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    fileprivate func slice(_ r: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: self[r]) }
}

/// Up to 16 `"name": value` pairs of one object, as ranges of the line, kept inline (no array per
/// line) as 16-bit offsets from the line's start: 128 bytes, cleared without a call to memset. A
/// pair ending 64 KiB or more into its line does not fit (the line takes the general path).
private struct Pairs {
    /// Name start and end, value start and end.
    private var items = InlineArray<16, SIMD4<UInt16>>(repeating: .zero)
    private(set) var count = 0
    let base: Int

    init(base: Int) { self.base = base }

    var isFull: Bool { count == 16 }

    subscript(i: Int) -> (name: Range<Int>, value: Range<Int>) {
        let v = items[i]
        return ((base + Int(v[0]))..<(base + Int(v[1])), (base + Int(v[2]))..<(base + Int(v[3])))
    }

    /// Adds a pair, or returns false when it lies too far into the line.
    mutating func append(_ name: Range<Int>, _ value: Range<Int>) -> Bool {
        guard value.upperBound - base <= Int(UInt16.max) else { return false }
        items[count] = SIMD4(UInt16(truncatingIfNeeded: name.lowerBound - base), UInt16(truncatingIfNeeded: name.upperBound - base),
                             UInt16(truncatingIfNeeded: value.lowerBound - base), UInt16(truncatingIfNeeded: value.upperBound - base))
        count += 1
        return true
    }
}

/// A cursor over the lines of an input that reads the simple JSON forms the fast path accepts.
private struct Scanner {
    let u: UnsafeBufferPointer<UInt8>
    var i = 0

    /// At the newline that ends the line, or at the end of the input.
    var atLineEnd: Bool { i == u.count || u[i] == 10 }
    var peek: UInt8? { i < u.count ? u[i] : nil }

    /// Spaces, tabs and carriage returns; a newline ends the line, so it is not skipped.
    mutating func skipWhitespace() {
        while i < u.count, u[i] == 32 || u[i] == 9 || u[i] == 13 { i += 1 }
    }

    mutating func take(_ c: UInt8) -> Bool {
        guard i < u.count, u[i] == c else { return false }
        i += 1
        return true
    }

    /// A string without escapes or control characters: the range of its content.
    mutating func simpleString() -> Range<Int>? {
        guard take(34) else { return nil }
        let start = i
        // Eight bytes at a time: the first quote, backslash or control character ends the string.
        let base = UnsafeRawPointer(u.baseAddress!)
        while i + 8 <= u.count {
            let found = Scanner.special(base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if found == 0 {
                i += 8
                continue
            }
            i += found.trailingZeroBitCount / 8
            guard u[i] == 34 else { return nil }
            i += 1
            return start..<(i - 1)
        }
        while i < u.count {
            let c = u[i]
            if c == 34 {
                i += 1
                return start..<(i - 1)
            }
            if c == 92 || c < 32 { return nil }
            i += 1
        }
        return nil
    }

    /// The high bit of each byte of `w` that is `"`, `\` or below 0x20 (the classic has-zero-byte
    /// and has-less-than tests: exact up to the first such byte, which is all the caller uses).
    static func special(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let q = w ^ (ones &* 34), b = w ^ (ones &* 92)
        let any = ((q &- ones) & ~q) | ((b &- ones) & ~b) | ((w &- ones &* 32) & ~w)
        return any & 0x8080_8080_8080_8080
    }

    /// A JSON number, by the same grammar and limits as `JSONParser`: the range of its text.
    mutating func number() -> Range<Int>? {
        let start = i
        _ = take(45)
        let intStart = i
        while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 }
        guard i > intStart, !(u[intStart] == 48 && i - intStart > 1) else { return nil }
        if take(46) {
            let f = i
            while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 }
            guard i > f else { return nil }
        }
        if i < u.count, u[i] == 101 || u[i] == 69 {
            i += 1
            if i < u.count, u[i] == 43 || u[i] == 45 { i += 1 }
            let e = i
            while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 }
            guard i > e else { return nil }
        }
        guard i - start <= 64 else { return nil }
        return start..<i
    }

    mutating func stringOrNumber() -> Range<Int>? {
        guard let c = peek else { return nil }
        if c == 34 { return simpleString() }
        if c == 45 || (c >= 48 && c <= 57) { return number() }
        return nil
    }

    /// `{"name": value, ...}` with string or number values (and `true`/`false` when
    /// `allowLiterals`, whose text is the value, as the general path has it).
    mutating func pairs(into out: inout Pairs, allowLiterals: Bool) -> Bool {
        guard take(123) else { return false }
        skipWhitespace()
        if take(125) { return true }
        while true {
            guard !out.isFull, let name = simpleString() else { return false }
            skipWhitespace()
            guard take(58) else { return false }
            skipWhitespace()
            guard let v = stringOrNumber() ?? (allowLiterals ? literal("true") ?? literal("false") : nil), out.append(name, v) else { return false }
            skipWhitespace()
            if take(44) {
                skipWhitespace()
                continue
            }
            return take(125)
        }
    }

    mutating func literal(_ word: StaticString) -> Range<Int>? {
        let n = word.utf8CodeUnitCount
        guard i + n <= u.count else { return nil }
        for k in 0..<n where u[i + k] != word.utf8Start[k] { return nil }
        i += n
        return (i - n)..<i
    }
}

/// Numbers of byte strings, found without making a String for each lookup, each with room for
/// what the decoder resolved it to (so an account or product is resolved once, not per event).
///
/// An entry keeps its first 16 bytes inline and a slot the top half of its hash, so a lookup
/// of a short string touches one slot and one entry, never the byte store.
struct ByteInterner {
    struct Entry {
        /// The first 16 bytes, zero-padded.
        var w0: UInt64, w1: UInt64
        var start: Int32
        var count: Int32
        /// The string's number in the columns.
        var number: Int32
        /// As an account: the number of its account id, -1 when unknown or out of scope.
        var account = ByteInterner.unresolved
        /// As a product: its index among the products, -1 when unknown.
        var product = ByteInterner.unresolved
    }

    /// A string's first 16 bytes and its hash, computed once per lookup.
    struct Key {
        var w0: UInt64, w1: UInt64
        var hash: UInt64
    }

    static let unresolved: Int32 = -2
    /// The top 32 bits of an entry's hash above its index + 1; 0 when empty. The slot an entry
    /// starts from comes from those bits, so growing needs no rehashing.
    private var slots = [UInt64](repeating: 0, count: 256)
    var entries: [Entry] = []
    private var bytes: [UInt8] = []
    private let seed = QuickHash.seed

    /// The first 16 bytes of `b`, zero-padded, of which `readable` bytes from its start may be loaded
    /// (at least `b.count`; with eight or more, a short string is loaded whole and masked rather
    /// than byte by byte).
    static func words(_ b: UnsafeBufferPointer<UInt8>, readable: Int) -> (UInt64, UInt64) {
        let n = b.count
        guard let p = b.baseAddress.map(UnsafeRawPointer.init), n > 0 else { return (0, 0) }
        if n >= 16 { return (p.loadUnaligned(as: UInt64.self), p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        if n > 8 { return (p.loadUnaligned(as: UInt64.self), p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64(8 * (16 - n))) }
        if readable >= 8 { return (n == 8 ? p.loadUnaligned(as: UInt64.self) : p.loadUnaligned(as: UInt64.self) & ((1 << UInt64(8 * n)) - 1), 0) }
        var w0: UInt64 = 0
        for i in 0..<n { w0 |= UInt64(b[i]) << UInt64(8 * i) }
        return (w0, 0)
    }

    /// The key of `b`, whose first 16 bytes are `w` (`words`).
    func key(_ b: UnsafeBufferPointer<UInt8>, _ w: (UInt64, UInt64)) -> Key {
        let n = b.count
        var h = seed ^ UInt64(n)
        if n > 16, let p = b.baseAddress.map(UnsafeRawPointer.init) {
            var i = 16
            while i + 8 <= n {
                h = QuickHash.mix(h, p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            if i < n { h = QuickHash.mix(h, p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) }
        }
        h = QuickHash.mix(QuickHash.mix(h, w.0), w.1)
        h ^= h >> 32
        h &*= 0xD6E8_FEB8_6659_FD93
        return Key(w0: w.0, w1: w.1, hash: h ^ (h >> 29))
    }

    /// Whether entry `index` holds `b`, whose first 16 bytes are `w`.
    func holds(_ index: Int, _ b: UnsafeBufferPointer<UInt8>, _ w: (UInt64, UInt64)) -> Bool {
        let e = entries[index]
        return e.w0 == w.0 && e.w1 == w.1 && Int(e.count) == b.count
            && (b.count <= 16 || bytes.withUnsafeBufferPointer { ByteInterner.same(UnsafeBufferPointer(rebasing: b[16...]), $0.baseAddress! + Int(e.start) + 16) })
    }

    /// Whether the `a.count` bytes at `b` equal `a`, compared eight at a time.
    static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafePointer<UInt8>?) -> Bool {
        let n = a.count
        guard n > 0, let a = a.baseAddress.map(UnsafeRawPointer.init), let b = b.map(UnsafeRawPointer.init) else { return true }
        if n < 8 {
            for i in 0..<n where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            return true
        }
        var i = 0
        while i + 8 < n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        return a.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }

    /// The index in `entries` of `b`, whose key is `k`.
    func find(_ b: UnsafeBufferPointer<UInt8>, _ k: Key) -> Int? {
        let mask = slots.count - 1
        let tag = k.hash >> 32
        var slot = Int(tag) & mask
        while true {
            let s = slots[slot]
            if s == 0 { return nil }
            if s >> 32 == tag {
                let index = Int(UInt32(truncatingIfNeeded: s)) - 1
                if holds(index, b, (k.w0, k.w1)) { return index }
            }
            slot = (slot + 1) & mask
        }
    }

    /// Adds `b` (not yet present, key `k`) as string `number`: the index of its entry.
    mutating func insert(_ b: UnsafeBufferPointer<UInt8>, _ k: Key, number: Int32) -> Int {
        entries.append(Entry(w0: k.w0, w1: k.w1, start: Int32(bytes.count), count: Int32(b.count), number: number))
        bytes.append(contentsOf: b)
        place((k.hash >> 32) << 32 | UInt64(entries.count))
        if entries.count * 2 > slots.count {
            let old = slots
            slots = [UInt64](repeating: 0, count: old.count * 2)
            for s in old where s != 0 { place(s) }
        }
        return entries.count - 1
    }

    private mutating func place(_ s: UInt64) {
        let mask = slots.count - 1
        var slot = Int(s >> 32) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = s
    }
}
