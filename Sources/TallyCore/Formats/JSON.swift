/// A small, strict JSON reader that keeps numbers as their exact text (so decimals never
/// pass through a binary float) and rejects invalid UTF-8.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self {
            for (k, v) in pairs where k == key { return v }
        }
        return nil
    }

    /// A short name of the value's type for error messages.
    public var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "invalid JSON at byte \(offset + 1): \(message)" }
}

public struct JSONParser {
    let u: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int
    static let maxDepth = 32

    /// Parses exactly one JSON value spanning `bytes` (whitespace around it allowed).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        var p = JSONParser(u: bytes, i: 0, end: bytes.count)
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        guard p.i == p.end else { throw JSONError(offset: p.i, message: "unexpected data after the value") }
        return v
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buf) throws(JSONError) -> JSONValue in try parse(buf) }
    }

    mutating func skipWS() {
        while i < end, u[i] == 32 || u[i] == 9 || u[i] == 10 || u[i] == 13 { i += 1 }
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONParser.maxDepth else { throw JSONError(offset: i, message: "nested too deeply") }
        guard i < end else { throw JSONError(offset: i, message: "unexpected end of input") }
        switch u[i] {
        case 123: return try object(depth: depth)
        case 91:
            i += 1
            var items: [JSONValue] = []
            skipWS()
            if i < end, u[i] == 93 { i += 1; return .array(items) }
            while true {
                skipWS()
                items.append(try value(depth: depth + 1))
                skipWS()
                guard i < end else { throw JSONError(offset: i, message: "unterminated array") }
                if u[i] == 44 { i += 1; continue }
                if u[i] == 93 { i += 1; return .array(items) }
                throw JSONError(offset: i, message: "expected , or ] in array")
            }
        case 34: return .string(try string())
        case 116: try literal("true"); return .bool(true)
        case 102: try literal("false"); return .bool(false)
        case 110: try literal("null"); return .null
        case 45, 48...57: return .number(try number())
        default: throw JSONError(offset: i, message: "unexpected character")
        }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        i += 1
        var pairs: [(String, JSONValue)] = []
        skipWS()
        if i < end, u[i] == 125 { i += 1; return .object(pairs) }
        while true {
            skipWS()
            guard i < end, u[i] == 34 else { throw JSONError(offset: i, message: "expected a string key") }
            let k = try string()
            skipWS()
            guard i < end, u[i] == 58 else { throw JSONError(offset: i, message: "expected : after key") }
            i += 1
            skipWS()
            pairs.append((k, try value(depth: depth + 1)))
            skipWS()
            guard i < end else { throw JSONError(offset: i, message: "unterminated object") }
            if u[i] == 44 { i += 1; continue }
            if u[i] == 125 { i += 1; return .object(pairs) }
            throw JSONError(offset: i, message: "expected , or } in object")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= end else { throw JSONError(offset: i, message: "unexpected end of input") }
        for k in 0..<n where u[i + k] != word.utf8Start[k] { throw JSONError(offset: i, message: "unexpected character") }
        i += n
    }

    mutating func number() throws(JSONError) -> String {
        let start = i
        if u[i] == 45 { i += 1 }
        let intStart = i
        while i < end, u[i] >= 48, u[i] <= 57 { i += 1 }
        guard i > intStart else { throw JSONError(offset: i, message: "invalid number") }
        if u[intStart] == 48 && i - intStart > 1 { throw JSONError(offset: intStart, message: "leading zero in number") }
        if i < end, u[i] == 46 {
            i += 1
            let f = i
            while i < end, u[i] >= 48, u[i] <= 57 { i += 1 }
            guard i > f else { throw JSONError(offset: i, message: "invalid number") }
        }
        if i < end, u[i] == 101 || u[i] == 69 {
            i += 1
            if i < end, u[i] == 43 || u[i] == 45 { i += 1 }
            let e = i
            while i < end, u[i] >= 48, u[i] <= 57 { i += 1 }
            guard i > e else { throw JSONError(offset: i, message: "invalid number") }
        }
        guard i - start <= 64 else { throw JSONError(offset: start, message: "number too long") }
        return String(decoding: UnsafeBufferPointer(rebasing: u[start..<i]), as: UTF8.self)
    }

    mutating func string() throws(JSONError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < end {
            let c = u[i]
            if c == 34 {
                let slice = UnsafeBufferPointer(rebasing: u[start..<i])
                i += 1
                guard let s = String(validating: slice, as: UTF8.self) else { throw JSONError(offset: start, message: "invalid UTF-8 in string") }
                return s
            }
            if c == 92 { break }
            if c < 32 { throw JSONError(offset: i, message: "control character in string") }
            i += 1
        }
        var bytes = Array(UnsafeBufferPointer(rebasing: u[start..<i]))
        while i < end {
            let c = u[i]
            if c == 34 {
                i += 1
                guard let s = String(validating: bytes, as: UTF8.self) else { throw JSONError(offset: start, message: "invalid UTF-8 in string") }
                return s
            }
            if c < 32 { throw JSONError(offset: i, message: "control character in string") }
            if c != 92 {
                bytes.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < end else { break }
            let e = u[i]
            i += 1
            switch e {
            case 34: bytes.append(34)
            case 92: bytes.append(92)
            case 47: bytes.append(47)
            case 98: bytes.append(8)
            case 102: bytes.append(12)
            case 110: bytes.append(10)
            case 114: bytes.append(13)
            case 116: bytes.append(9)
            case 117:
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 6 <= end, u[i] == 92, u[i + 1] == 117 else { throw JSONError(offset: i, message: "lone surrogate in string") }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw JSONError(offset: i, message: "invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw JSONError(offset: i, message: "lone surrogate in string")
                }
                guard let us = Unicode.Scalar(scalar) else { throw JSONError(offset: i, message: "invalid escape") }
                bytes.append(contentsOf: Array(String(Character(us)).utf8))
            default: throw JSONError(offset: i - 1, message: "invalid escape")
            }
        }
        throw JSONError(offset: start, message: "unterminated string")
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= end else { throw JSONError(offset: i, message: "invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = u[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw JSONError(offset: i, message: "invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}

extension JSONValue {
    /// Serializes compactly (used for echoing and tests).
    public var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return JSONValue.quote(s)
        case .array(let a): return "[" + a.map(\.serialized).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.map { JSONValue.quote($0.0) + ":" + $0.1.serialized }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let h = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
