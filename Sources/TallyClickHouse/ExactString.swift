/// A string compared, hashed and ordered by its UTF-8 bytes, as ClickHouse compares `String`.
///
/// Swift's `==` treats canonically equivalent spellings (NFC "café", NFD "cafe\u{301}") as one;
/// accounts, dimension values, event ids and idempotency keys are opaque identifiers, so the
/// store keys every in-memory table by bytes and never merges what ClickHouse keeps apart.
struct ExactString: Hashable, Comparable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }

    static func == (a: ExactString, b: ExactString) -> Bool { a.value.utf8.elementsEqual(b.value.utf8) }

    static func < (a: ExactString, b: ExactString) -> Bool { a.value.utf8.lexicographicallyPrecedes(b.value.utf8) }

    func hash(into hasher: inout Hasher) {
        var s = value
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(s.utf8.count)
    }
}
