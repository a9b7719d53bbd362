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
    private var interner = ByteInterner()
    /// Interned account identifier → interned account id, or -1 when unknown or out of scope.
    private var accounts: [Int32: Int32] = [:]
    /// Interned product name → index in `products`, or -1.
    private var productIndexes: [Int32: Int] = [:]
    private var dimensionPairs: [(name: Range<Int>, value: Range<Int>)] = []
    private var metricPairs: [(name: Range<Int>, value: Range<Int>)] = []
    private var values: [Int64] = []
    /// The last account (to its id), product and source seen: consecutive events mostly repeat them.
    private var recentAccount = Recent(), recentProduct = Recent(), recentSource = Recent()
    private var recentProductIndex = -1
    private var emptyNumber: Int32?

    /// One remembered byte string and what it stands for, checked before hashing.
    struct Recent {
        private var bytes: [UInt8] = []
        private var number: Int32?

        func value(for b: UnsafeBufferPointer<UInt8>) -> Int32? {
            guard let number, NativeFastPath.equal(b, bytes) else { return nil }
            return number
        }

        mutating func remember(_ b: UnsafeBufferPointer<UInt8>, _ n: Int32) {
            bytes = Array(b)
            number = n
        }
    }
    private var dims: [Int32] = []

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
    }

    private enum Field: Int { case id, source, time, account, product, dimensions, metrics }

    /// Appends the event on `line` to `columns`, or returns false (and appends nothing).
    mutating func decode(_ u: UnsafeBufferPointer<UInt8>, into columns: inout EventColumns) -> Bool {
        var s = Scanner(u: u)
        var id: Range<Int>?, source: Range<Int>?, time: Range<Int>?, account: Range<Int>?, product: Range<Int>?
        var seen = 0  // a bit per field: a repeated field goes to the general path
        dimensionPairs.removeAll(keepingCapacity: true)
        metricPairs.removeAll(keepingCapacity: true)
        s.skipWhitespace()
        guard s.take(UInt8(ascii: "{")) else { return false }
        s.skipWhitespace()
        if s.peek == UInt8(ascii: "}") { return false }
        while true {
            guard let key = s.simpleString(), let field = NativeFastPath.field(u, key), seen & (1 << field.rawValue) == 0 else { return false }
            seen |= 1 << field.rawValue
            s.skipWhitespace()
            guard s.take(UInt8(ascii: ":")) else { return false }
            s.skipWhitespace()
            switch field {
            case .id: guard let r = s.stringOrNumber() else { return false }; id = r
            case .source: guard let r = s.stringOrNumber() else { return false }; source = r
            case .time: guard let r = s.simpleString() else { return false }; time = r
            case .account: guard let r = s.simpleString() else { return false }; account = r
            case .product: guard let r = s.simpleString() else { return false }; product = r
            case .dimensions: guard s.pairs(into: &dimensionPairs, allowLiterals: true) else { return false }
            case .metrics: guard s.pairs(into: &metricPairs, allowLiterals: false) else { return false }
            }
            s.skipWhitespace()
            if s.take(UInt8(ascii: ",")) {
                s.skipWhitespace()
                continue
            }
            guard s.take(UInt8(ascii: "}")) else { return false }
            break
        }
        s.skipWhitespace()
        guard s.atEnd, let time, let account, let product else { return false }

        // Validate exactly as `EventValidator.event` does; any doubt goes to the general path.
        guard let instant = RFC3339.parse(bytes: u.slice(time)), instant >= 0, instant <= validator.now + validator.maxFuture else { return false }
        let accountID: Int32
        if let id = recentAccount.value(for: u.slice(account)) {
            accountID = id
        } else {
            guard let accountNumber = intern(u.slice(account), &columns) else { return false }
            accountID = accounts[accountNumber] ?? resolveAccount(accountNumber, &columns)
            recentAccount.remember(u.slice(account), accountID)
        }
        guard accountID >= 0 else { return false }
        let productNumber: Int32, p: Int
        if let n = recentProduct.value(for: u.slice(product)) {
            productNumber = n
            p = recentProductIndex
        } else {
            guard let n = intern(u.slice(product), &columns) else { return false }
            productNumber = n
            p = productIndexes[n] ?? resolveProduct(n, &columns)
            recentProduct.remember(u.slice(product), n)
            recentProductIndex = p
        }
        guard p >= 0 else { return false }
        let spec = products[p]
        if let id {
            guard !id.isEmpty, id.count <= EventValidator.maxValueBytes, isValidUTF8(u.slice(id)) else { return false }
        }
        var sourceNumber: Int32?
        if let source {
            guard source.count <= EventValidator.maxValueBytes else { return false }
            if let n = recentSource.value(for: u.slice(source)) {
                sourceNumber = n
            } else {
                guard let n = intern(u.slice(source), &columns) else { return false }
                recentSource.remember(u.slice(source), n)
                sourceNumber = n
            }
        }
        let empty = emptyNumber ?? columns.intern("")
        emptyNumber = empty
        dims.removeAll(keepingCapacity: true)
        for _ in spec.dimensions { dims.append(empty) }
        for (k, (name, value)) in dimensionPairs.enumerated() {
            guard let i = NativeFastPath.index(of: u.slice(name), in: spec.dimensions, guess: k),
                  value.count <= EventValidator.maxValueBytes,
                  let n = intern(u.slice(value), &columns) else { return false }
            dims[i] = n
        }
        values.removeAll(keepingCapacity: true)
        for _ in spec.metrics { values.append(0) }
        for (k, (name, value)) in metricPairs.enumerated() {
            guard let i = NativeFastPath.index(of: u.slice(name), in: spec.metrics, guess: k),
                  case .success(let v) = Exact.parse(bytes: u.slice(value), scale: spec.scales[i]) else { return false }
            values[i] = v
        }
        let series = columns.seriesNumber(EventColumns.series(account: accountID, product: productNumber, dimensions: dims), metricCount: values.count)
        values.withUnsafeBufferPointer { m in
            columns.append(series: series, time: instant, metrics: m, source: sourceNumber, id: id.map { UnsafeRawBufferPointer(u.slice($0)) })
        }
        return true
    }

    private static let fieldNames: [(Field, [UInt8])] = [
        (.id, Array("id".utf8)), (.source, Array("source".utf8)), (.time, Array("time".utf8)), (.account, Array("account".utf8)),
        (.product, Array("product".utf8)), (.dimensions, Array("dimensions".utf8)), (.metrics, Array("metrics".utf8)),
    ]

    private static func field(_ u: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Field? {
        let k = u.slice(r)
        for (f, name) in fieldNames where name.count == k.count && equal(k, name) { return f }
        return nil
    }

    /// The index of `name` among `names`, trying `guess` first (fields usually come in configuration order).
    private static func index(of name: UnsafeBufferPointer<UInt8>, in names: [[UInt8]], guess: Int) -> Int? {
        if guess < names.count, equal(name, names[guess]) { return guess }
        return names.firstIndex { equal(name, $0) }
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: [UInt8]) -> Bool {
        a.count == b.count && (a.count == 0 || b.withUnsafeBufferPointer { memcmp(a.baseAddress!, $0.baseAddress!, a.count) == 0 })
    }

    /// The number of `bytes` in `columns.strings`; nil when they are not valid UTF-8.
    private mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>, _ columns: inout EventColumns) -> Int32? {
        let hash = ByteInterner.hash(bytes)
        if let n = interner.find(bytes, hash: hash) { return n }
        guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
        let n = columns.intern(s)
        interner.insert(bytes, hash: hash, number: n)
        return n
    }

    private mutating func resolveAccount(_ n: Int32, _ columns: inout EventColumns) -> Int32 {
        let v = validator
        var id: Int32 = -1
        if let a = v.accounts.resolve(columns.strings[Int(n)]), v.scope.map({ v.accounts.isWithin(a.id, subtreeOf: $0) }) ?? true {
            id = columns.intern(a.id)
        }
        accounts[n] = id
        return id
    }

    private mutating func resolveProduct(_ n: Int32, _ columns: inout EventColumns) -> Int {
        let name = columns.strings[Int(n)]
        let p = products.firstIndex { $0.name.utf8.elementsEqual(name.utf8) } ?? -1
        productIndexes[n] = p
        return p
    }

    private func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        b.allSatisfy { $0 < 0x80 } || String(validating: b, as: UTF8.self) != nil
    }
}

extension UnsafeBufferPointer<UInt8> {
    fileprivate func slice(_ r: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: self[r]) }
}

/// A cursor over one line that reads the simple JSON forms the fast path accepts.
private struct Scanner {
    let u: UnsafeBufferPointer<UInt8>
    var i = 0

    var atEnd: Bool { i == u.count }
    var peek: UInt8? { i < u.count ? u[i] : nil }

    mutating func skipWhitespace() {
        while i < u.count, u[i] == 32 || u[i] == 9 || u[i] == 13 || u[i] == 10 { i += 1 }
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
    mutating func pairs(into out: inout [(name: Range<Int>, value: Range<Int>)], allowLiterals: Bool) -> Bool {
        guard take(123) else { return false }
        skipWhitespace()
        if take(125) { return true }
        while true {
            guard out.count < 16, let name = simpleString() else { return false }
            skipWhitespace()
            guard take(58) else { return false }
            skipWhitespace()
            if let v = stringOrNumber() {
                out.append((name, v))
            } else if allowLiterals, let v = literal("true") ?? literal("false") {
                out.append((name, v))
            } else {
                return false
            }
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

/// Numbers of byte strings, found without making a String for each lookup.
struct ByteInterner {
    private struct Entry {
        var hash: Int
        var start: Int
        var count: Int
        var number: Int32
    }
    private var slots = [Int32](repeating: -1, count: 256)
    private var entries: [Entry] = []
    private var bytes: [UInt8] = []

    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        Int(truncatingIfNeeded: QuickHash.hash(UnsafeRawBufferPointer(b)))
    }

    func find(_ b: UnsafeBufferPointer<UInt8>, hash: Int) -> Int32? {
        let mask = slots.count - 1
        var slot = hash & mask
        while slots[slot] >= 0 {
            let e = entries[Int(slots[slot])]
            if e.hash == hash, e.count == b.count, bytes.withUnsafeBufferPointer({ b.count == 0 || memcmp($0.baseAddress! + e.start, b.baseAddress!, b.count) == 0 }) {
                return e.number
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    mutating func insert(_ b: UnsafeBufferPointer<UInt8>, hash: Int, number: Int32) {
        entries.append(Entry(hash: hash, start: bytes.count, count: b.count, number: number))
        bytes.append(contentsOf: b)
        if entries.count * 2 > slots.count {
            slots = [Int32](repeating: -1, count: slots.count * 2)
            for i in entries.indices { place(Int32(i)) }
        } else {
            place(Int32(entries.count - 1))
        }
    }

    private mutating func place(_ index: Int32) {
        let mask = slots.count - 1
        var slot = entries[Int(index)].hash & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = index
    }
}
