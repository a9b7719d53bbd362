/// A Squid access-log layout, compiled once from a `logformat` body into a byte matcher.
///
/// The layout is matched left to right: a run of spaces in the format matches a run of one or
/// more spaces in the line (Squid pads fields with spaces), other literal text matches itself,
/// and each `%` code takes the bytes up to the next space or the first byte of the literal that
/// follows it. `init(logformat:)` refuses layouts where that rule would be ambiguous.
public struct SquidLogFormat: Sendable {
    /// The `logformat` body this format was built from.
    public let definition: String

    let elements: [SquidElement]
    let literalBytes: [UInt8]
    let timeSource: SquidSlot
    let userQuoting: SquidQuoting
    /// Squid's built-in `squid` format appends ` [request headers] [reply headers]` when
    /// `log_mime_hdrs` is on.
    let allowsMimeHeaderTrailer: Bool

    /// Squid's built-in `squid` format (`access_log ... squid`), whose `logformat` equivalent is
    /// `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`.
    public static let native: SquidLogFormat = {
        do {
            return try SquidLogFormat(compiling: builtInSquid, allowsMimeHeaderTrailer: true)
        } catch {
            preconditionFailure("the built-in squid format must compile: \(error)")
        }
    }()

    static let builtInSquid = "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt"
    static let builtInCommon = "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st %Ss:%Sh"
    static let builtInCombined =
        "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st \"%{Referer}>h\" \"%{User-Agent}>h\" %Ss:%Sh"

    /// Compiles a Squid `logformat` body made of `%` codes and literal text, e.g.
    /// `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt`.
    ///
    /// Also accepts a whole `logformat NAME BODY` line, and the built-in format names `squid`,
    /// `common` and `combined`. Throws ``SquidLogFormatError`` for unknown codes, for codes whose
    /// values cannot be told apart from what follows them, and for formats lacking what Tally
    /// needs: a time (`%ts`, `%tS`, `%tl` or `%tg`), `%Ss`, `%<st` and the URL (`%ru`).
    public init(logformat: String) throws(SquidLogFormatError) {
        var body = Substring(logformat)
        body = body.drop { $0 == " " || $0 == "\t" }
        if body.hasPrefix("logformat ") {
            // `logformat NAME BODY`: drop the directive and the name.
            body = body.dropFirst("logformat ".count).drop { $0 == " " }
            body = body.drop { $0 != " " }.drop { $0 == " " }
        }
        while let last = body.last, last == " " || last == "\t" || last == "\n" || last == "\r" {
            body = body.dropLast()
        }
        switch body {
        case "squid": self = .native
        case "common": try self.init(compiling: Self.builtInCommon, allowsMimeHeaderTrailer: false)
        case "combined": try self.init(compiling: Self.builtInCombined, allowsMimeHeaderTrailer: false)
        default: try self.init(compiling: String(body), allowsMimeHeaderTrailer: false)
        }
    }

    init(compiling body: String, allowsMimeHeaderTrailer: Bool) throws(SquidLogFormatError) {
        var compiler = SquidFormatCompiler(body: body)
        try compiler.compile()
        definition = body
        elements = compiler.elements
        literalBytes = compiler.literalBytes
        timeSource = compiler.timeSource
        userQuoting = compiler.userQuoting
        self.allowsMimeHeaderTrailer = allowsMimeHeaderTrailer
    }
}

/// A `logformat` that Tally cannot decode, with the reason in `message`.
public struct SquidLogFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Compiled form

/// What a code's value feeds in the record; `.none` values are matched and skipped.
enum SquidSlot: UInt8, Sendable {
    case none, seconds, millis, startTime, localTime, gmtTime
    case resultCode, status, bytesToClient, bytesFromClient, method, url, user
}

/// Squid's escaping of a code's value, chosen by a modifier (`%"`, `%'`, `%[`, `%#`, `%/`) or
/// by the surrounding `"..."` / `[...]` of the format.
enum SquidQuoting: UInt8, Sendable {
    case none, quotes, mimeBlob, url, raw, shell
}

/// One step of the matcher. A plain value type so that decoding touches no reference counts.
struct SquidElement: Sendable {
    enum Kind: UInt8, Sendable { case spaces, literal, code }

    var kind: Kind
    var slot: SquidSlot = .none
    var literalStart: Int = 0
    var literalCount: Int = 0
    /// For a code followed by literal text: the first byte of that text, which ends the value.
    var stop: UInt8 = 0
    var hasStop = false
    /// The value may contain spaces: it ends only at `stop`.
    var spaceful = false
    /// The value is two space-separated words (`%tl` before a space or the end of the line).
    var twoWords = false
    /// Backslash escapes inside the value (`"`-quoting), so an escaped `stop` does not end it.
    var escapes = false
    /// Right-aligned space padding before the value (`%6tr`).
    var skipLeadingSpaces = false
    /// Left-aligned space padding after the value (`%-10un`) before a literal.
    var skipTrailingSpaces = false
}

/// The shape of a code's values, used to prove a layout unambiguous.
enum SquidValueClass: Sendable {
    /// Digits or `-`; with a precision (`%tr.3`) also `.`.
    case digits
    /// `[A-Za-z0-9_-]`, e.g. `TCP_MISS`, `HIER_DIRECT`.
    case token
    /// An IP address or `-`.
    case address
    /// An HTTP method (token characters).
    case method
    /// `%tl`: `dd/Mon/yyyy:HH:MM:SS +zzzz`, one space inside.
    case localTime
    /// `%tg`: `dd/Mon/yyyy:HH:MM:SS`.
    case gmtTime
    /// Any bytes but spaces (URLs, content types, host names ...).
    case any
    /// Free text such as user names: may hold spaces when quoted; taken up to a space otherwise.
    case text
    /// HTTP headers and notes: URL-escaped when unquoted, free text with spaces when quoted.
    case header
}

struct SquidCodeInfo {
    var name: String
    var valueClass: SquidValueClass
    var slot: SquidSlot
    /// Lower is preferred when several codes could fill the same slot (`%un` over `%ul`).
    var priority: Int = 0
}

// MARK: - Compiler

struct SquidFormatCompiler {
    let body: String
    var elements: [SquidElement] = []
    var literalBytes: [UInt8] = []
    var timeSource: SquidSlot = .none
    var userQuoting: SquidQuoting = .none

    init(body: String) { self.body = body }

    /// A parsed `%` code with its modifiers.
    struct Code {
        var info: SquidCodeInfo
        var text: String
        var quoting: SquidQuoting
        var leftAligned = false
        var zeroPadded = false
        var minWidth = 0
        var precision: Int?
        var argument: String?
    }

    enum Item {
        case spaces
        case literal([UInt8])
        case code(Code)
    }

    mutating func compile() throws(SquidLogFormatError) {
        var items = try tokenize()
        while case .spaces? = items.first { items.removeFirst() }
        while case .spaces? = items.last { items.removeLast() }
        guard !items.isEmpty else { throw SquidLogFormatError("the logformat is empty") }
        try assignSlots(&items)
        try build(items)
    }

    /// Splits the body into literal runs, space runs and codes, tracking Squid's quoting state.
    private func tokenize() throws(SquidLogFormatError) -> [Item] {
        let f = Array(body.utf8)
        var items: [Item] = []
        var quoting = SquidQuoting.none
        var literal: [UInt8] = []

        func flush() {
            var i = 0
            while i < literal.count {
                let isSpace = literal[i] == UInt8(ascii: " ")
                var j = i
                while j < literal.count, (literal[j] == UInt8(ascii: " ")) == isSpace { j += 1 }
                items.append(isSpace ? .spaces : .literal(Array(literal[i..<j])))
                i = j
            }
            literal.removeAll()
        }

        var i = 0
        while i < f.count {
            let c = f[i]
            if c != UInt8(ascii: "%") {
                literal.append(c)
                switch c {
                case UInt8(ascii: "\""):
                    if quoting == .none { quoting = .quotes } else if quoting == .quotes { quoting = .none }
                case UInt8(ascii: "["):
                    if quoting == .none { quoting = .mimeBlob }
                case UInt8(ascii: "]"):
                    if quoting == .mimeBlob { quoting = .none }
                default: break
                }
                i += 1
                continue
            }
            let start = i
            i += 1
            guard i < f.count else { throw SquidLogFormatError("the logformat ends with a lone '%'") }
            if f[i] == UInt8(ascii: "%") {
                literal.append(c)
                i += 1
                continue
            }
            flush()
            var code = Code(
                info: SquidCodeInfo(name: "", valueClass: .any, slot: .none), text: "", quoting: quoting)
            switch f[i] {
            case UInt8(ascii: "\""): code.quoting = .quotes; i += 1
            case UInt8(ascii: "'"): code.quoting = .raw; i += 1
            case UInt8(ascii: "["): code.quoting = .mimeBlob; i += 1
            case UInt8(ascii: "#"): code.quoting = .url; i += 1
            case UInt8(ascii: "/"): code.quoting = .shell; i += 1
            default: break
            }
            if i < f.count, f[i] == UInt8(ascii: "-") { code.leftAligned = true; i += 1 }
            if i < f.count, f[i] == UInt8(ascii: "0") { code.zeroPadded = true; i += 1 }
            var width = 0
            while i < f.count, f[i] >= UInt8(ascii: "0"), f[i] <= UInt8(ascii: "9") {
                width = min(width * 10 + Int(f[i] - UInt8(ascii: "0")), 1_000_000)
                i += 1
            }
            code.minWidth = width
            if i + 1 < f.count, f[i] == UInt8(ascii: "."), SquidByte.isDigit(f[i + 1]) {
                i += 1
                var precision = 0
                while i < f.count, f[i] >= UInt8(ascii: "0"), f[i] <= UInt8(ascii: "9") {
                    precision = min(precision * 10 + Int(f[i] - UInt8(ascii: "0")), 1_000_000)
                    i += 1
                }
                code.precision = precision
            }
            if i < f.count, f[i] == UInt8(ascii: "{") {
                code.argument = try Self.argument(f, &i)
            }
            guard let (info, length) = Self.lookUp(f, at: i) else {
                let rest = String(decoding: f[start..<min(f.count, start + 16)], as: UTF8.self)
                throw SquidLogFormatError("unknown Squid logformat code at '\(rest)'")
            }
            i += length
            code.info = info
            if code.argument == nil, i < f.count, f[i] == UInt8(ascii: "{") {
                code.argument = try Self.argument(f, &i)
            }
            code.text = String(decoding: f[start..<i], as: UTF8.self)
            if code.argument != nil, info.valueClass == .localTime || info.valueClass == .gmtTime {
                throw SquidLogFormatError("\(code.text): custom time layouts are not supported; use %ts.%03tu")
            }
            items.append(.code(code))
        }
        flush()
        return items
    }

    private static func argument(_ f: [UInt8], _ i: inout Int) throws(SquidLogFormatError) -> String {
        let open = i
        i += 1
        while i < f.count, f[i] != UInt8(ascii: "}") { i += 1 }
        guard i < f.count else {
            let rest = String(decoding: f[open...].prefix(16), as: UTF8.self)
            throw SquidLogFormatError("unclosed '{' in the logformat at '\(rest)'")
        }
        defer { i += 1 }
        return String(decoding: f[(open + 1)..<i], as: UTF8.self)
    }

    /// Finds the code name at `i` the way Squid does: an `http::` prefix is optional, other
    /// `namespace::` codes (`ssl::>sni`, `icap::tr` ...) are skipped opaquely, then the longer
    /// names are tried before the shorter ones.
    private static func lookUp(_ f: [UInt8], at i: Int) -> (SquidCodeInfo, Int)? {
        func isLetter(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
        }
        var j = i
        while j < f.count, isLetter(f[j]) || f[j] == UInt8(ascii: "_") { j += 1 }
        if j > i, j + 1 < f.count, f[j] == UInt8(ascii: ":"), f[j + 1] == UInt8(ascii: ":") {
            let namespace = String(decoding: f[i..<j], as: UTF8.self)
            if namespace == "http", let (info, length) = lookUp(f, at: j + 2) {
                return (info, length + (j + 2 - i))
            }
            if opaqueNamespaces.contains(namespace) {
                var k = j + 2
                while k < f.count, isLetter(f[k]) || f[k] == UInt8(ascii: "_") || f[k] == UInt8(ascii: "<")
                    || f[k] == UInt8(ascii: ">") || (f[k] >= UInt8(ascii: "0") && f[k] <= UInt8(ascii: "9"))
                {
                    k += 1
                }
                if k > j + 2 {
                    let name = String(decoding: f[i..<k], as: UTF8.self)
                    return (SquidCodeInfo(name: name, valueClass: .text, slot: .none), k - i)
                }
            }
        }
        for entry in codeTable {
            let name = Array(entry.name.utf8)
            if i + name.count <= f.count, Array(f[i..<(i + name.count)]) == name {
                return (entry, name.count)
            }
        }
        return nil
    }

    /// Namespaced codes (`ssl::>sni`, `icap::tr` ...) are matched and skipped without a table.
    static let opaqueNamespaces: Set<String> = ["ssl", "tls", "icap", "adapt", "transport", "proxy_protocol"]

    /// Squid's format codes, longest names first as in `src/format/Token.cc`.
    static let codeTable: [SquidCodeInfo] = [
        // Longer names.
        .init(name: ">eui", valueClass: .any, slot: .none),
        .init(name: ">qos", valueClass: .any, slot: .none),
        .init(name: "<qos", valueClass: .any, slot: .none),
        .init(name: ">nfmark", valueClass: .any, slot: .none),
        .init(name: "<nfmark", valueClass: .any, slot: .none),
        .init(name: ">handshake", valueClass: .any, slot: .none),
        .init(name: "err_code", valueClass: .token, slot: .none),
        .init(name: "err_detail", valueClass: .text, slot: .none),
        .init(name: "note", valueClass: .header, slot: .none),
        .init(name: "credentials", valueClass: .text, slot: .none),
        .init(name: "master_xaction", valueClass: .digits, slot: .none),
        .init(name: "busy_time", valueClass: .digits, slot: .none),
        // Two-character names, with an optional direction.
        .init(name: ">la", valueClass: .address, slot: .none),
        .init(name: "la", valueClass: .address, slot: .none),
        .init(name: ">lp", valueClass: .digits, slot: .none),
        .init(name: "lp", valueClass: .digits, slot: .none),
        .init(name: "<la", valueClass: .address, slot: .none),
        .init(name: "oa", valueClass: .address, slot: .none),
        .init(name: "<lp", valueClass: .digits, slot: .none),
        .init(name: "ts", valueClass: .digits, slot: .seconds),
        .init(name: "tu", valueClass: .digits, slot: .millis),
        .init(name: "tl", valueClass: .localTime, slot: .localTime),
        .init(name: "tg", valueClass: .gmtTime, slot: .gmtTime),
        .init(name: "tS", valueClass: .digits, slot: .startTime),
        .init(name: "tr", valueClass: .digits, slot: .none),
        .init(name: "<pt", valueClass: .digits, slot: .none),
        .init(name: "<tt", valueClass: .digits, slot: .none),
        .init(name: "dt", valueClass: .digits, slot: .none),
        .init(name: ">ha", valueClass: .header, slot: .none),
        .init(name: "un", valueClass: .text, slot: .user, priority: 0),
        .init(name: "ul", valueClass: .text, slot: .user, priority: 1),
        .init(name: "ui", valueClass: .text, slot: .none),  // ident: never trusted as the user
        .init(name: "ue", valueClass: .text, slot: .user, priority: 2),
        .init(name: "Hs", valueClass: .digits, slot: .status, priority: 1),
        .init(name: ">Hs", valueClass: .digits, slot: .status, priority: 0),
        .init(name: "<Hs", valueClass: .digits, slot: .none),
        .init(name: "<bs", valueClass: .digits, slot: .none),
        .init(name: "Ss", valueClass: .token, slot: .resultCode),
        .init(name: "Sh", valueClass: .token, slot: .none),
        .init(name: "mt", valueClass: .any, slot: .none),
        .init(name: ">rm", valueClass: .method, slot: .method, priority: 1),
        .init(name: ">ru", valueClass: .any, slot: .url, priority: 1),
        .init(name: ">rs", valueClass: .any, slot: .none),
        .init(name: ">rd", valueClass: .any, slot: .none),
        .init(name: ">rP", valueClass: .digits, slot: .none),
        .init(name: ">rp", valueClass: .any, slot: .none),
        .init(name: ">rv", valueClass: .any, slot: .none),
        .init(name: "rm", valueClass: .method, slot: .method, priority: 0),
        .init(name: "ru", valueClass: .any, slot: .url, priority: 0),
        .init(name: "rp", valueClass: .any, slot: .none),
        .init(name: "rv", valueClass: .any, slot: .none),
        .init(name: "rG", valueClass: .any, slot: .none),
        .init(name: "<rm", valueClass: .method, slot: .none),
        .init(name: "<ru", valueClass: .any, slot: .none),
        .init(name: "<rs", valueClass: .any, slot: .none),
        .init(name: "<rd", valueClass: .any, slot: .none),
        .init(name: "<rP", valueClass: .digits, slot: .none),
        .init(name: "<rp", valueClass: .any, slot: .none),
        .init(name: "<rv", valueClass: .any, slot: .none),
        .init(name: ">st", valueClass: .digits, slot: .bytesFromClient),
        .init(name: ">sh", valueClass: .digits, slot: .none),
        .init(name: "<st", valueClass: .digits, slot: .bytesToClient),
        .init(name: "<sH", valueClass: .digits, slot: .none),
        .init(name: "<sS", valueClass: .digits, slot: .none),
        .init(name: "<sh", valueClass: .digits, slot: .none),
        .init(name: "st", valueClass: .digits, slot: .none),
        .init(name: "et", valueClass: .text, slot: .none),
        .init(name: "ea", valueClass: .text, slot: .none),
        .init(name: "sn", valueClass: .digits, slot: .none),
        // One-character names, with a direction.
        .init(name: ">a", valueClass: .address, slot: .none),
        .init(name: ">p", valueClass: .digits, slot: .none),
        .init(name: ">A", valueClass: .any, slot: .none),
        .init(name: "<a", valueClass: .address, slot: .none),
        .init(name: "<p", valueClass: .digits, slot: .none),
        .init(name: "<A", valueClass: .any, slot: .none),
        .init(name: ">h", valueClass: .header, slot: .none),
        .init(name: "<h", valueClass: .header, slot: .none),
        .init(name: ">v", valueClass: .any, slot: .none),
    ]

    /// Keeps, for each record field, the one code that feeds it; the others are skipped.
    private mutating func assignSlots(_ items: inout [Item]) throws(SquidLogFormatError) {
        var best: [SquidSlot: (index: Int, priority: Int)] = [:]
        for (index, item) in items.enumerated() {
            guard case .code(let code) = item, code.info.slot != .none else { continue }
            if let current = best[code.info.slot], current.priority <= code.info.priority { continue }
            best[code.info.slot] = (index, code.info.priority)
        }
        if best[.seconds] != nil {
            timeSource = .seconds
        } else if best[.startTime] != nil {
            timeSource = .startTime
        } else if best[.localTime] != nil {
            timeSource = .localTime
        } else if best[.gmtTime] != nil {
            timeSource = .gmtTime
        } else {
            throw SquidLogFormatError("the logformat has no time: Tally needs %ts (or %tS, %tl, %tg)")
        }
        let timeSlots: Set<SquidSlot> = [.seconds, .millis, .startTime, .localTime, .gmtTime]
        for (slot, entry) in best where timeSlots.contains(slot) {
            let used = slot == timeSource || (slot == .millis && timeSource == .seconds)
            if !used { best[slot] = nil; continue }
            guard case .code(let code) = items[entry.index] else { continue }
            if slot == .millis, code.precision != nil {
                throw SquidLogFormatError("\(code.text): a precision on %tu is not supported; use %03tu")
            }
        }
        if best[.resultCode] == nil {
            throw SquidLogFormatError("the logformat has no %Ss: Tally needs the result code to tell denied lines")
        }
        if best[.bytesToClient] == nil {
            throw SquidLogFormatError("the logformat has no %<st: Tally needs the bytes sent to the client")
        }
        if best[.url] == nil {
            throw SquidLogFormatError("the logformat has no %ru: Tally needs the URL for the host and port")
        }
        for index in items.indices {
            guard case .code(var code) = items[index], code.info.slot != .none else { continue }
            if best[code.info.slot]?.index != index {
                code.info.slot = .none
                items[index] = .code(code)
            } else if code.info.slot == .user {
                userQuoting = code.quoting
            }
        }
    }

    private mutating func build(_ items: [Item]) throws(SquidLogFormatError) {
        for (index, item) in items.enumerated() {
            switch item {
            case .spaces:
                elements.append(SquidElement(kind: .spaces))
            case .literal(let bytes):
                elements.append(
                    SquidElement(kind: .literal, literalStart: literalBytes.count, literalCount: bytes.count))
                literalBytes += bytes
            case .code(let code):
                let next: Item? = index + 1 < items.count ? items[index + 1] : nil
                elements.append(try place(code, before: next))
            }
        }
    }

    /// Decides how a code's value ends in a line, or explains why it cannot be told apart.
    private func place(_ code: Code, before next: Item?) throws(SquidLogFormatError) -> SquidElement {
        var element = SquidElement(kind: .code, slot: code.info.slot)
        if code.minWidth > 0, !code.zeroPadded {
            element.skipLeadingSpaces = !code.leftAligned
            if code.leftAligned, case .literal? = next { element.skipTrailingSpaces = true }
        }
        let mayHoldSpaces = Self.mayHoldSpaces(code)
        switch next {
        case .code(let other)?:
            throw SquidLogFormatError(
                "cannot place \(code.text) directly before \(other.text): put a space or other separator between them")
        case .literal(let bytes)?:
            let stop = bytes[0]
            if Self.mayContain(code, stop) {
                let shown = String(decoding: [stop], as: UTF8.self)
                throw SquidLogFormatError(
                    "cannot place \(code.text) before '\(shown)': its values may contain '\(shown)'; "
                        + "put a space after it")
            }
            element.stop = stop
            element.hasStop = true
            element.spaceful = mayHoldSpaces
            element.escapes = mayHoldSpaces && code.quoting == .quotes
        case .spaces?, nil:
            if mayHoldSpaces {
                if code.info.valueClass == .localTime {
                    element.twoWords = true
                } else {
                    throw SquidLogFormatError(
                        "cannot place \(code.text): its values may contain spaces here; "
                            + "enclose it in \"...\" or use it unquoted")
                }
            }
        }
        return element
    }

    /// Whether a value of this code can contain a space in a log line.
    private static func mayHoldSpaces(_ code: Code) -> Bool {
        switch code.info.valueClass {
        case .localTime:
            return true
        case .header:
            return code.quoting != .none && code.quoting != .url
        case .text:
            // User names and other free text: spaces only where a quote can end them. Elsewhere
            // a space in a value shifts the fields and the line comes out malformed.
            return code.quoting == .quotes
        case .digits, .token, .address, .method, .gmtTime, .any:
            return false
        }
    }

    /// Whether a value of this code, as Squid escapes it, can contain byte `c`.
    private static func mayContain(_ code: Code, _ c: UInt8) -> Bool {
        switch code.quoting {
        case .quotes where c == UInt8(ascii: "\""): return false
        case .mimeBlob where c == UInt8(ascii: "[") || c == UInt8(ascii: "]"): return false
        case .url where c == UInt8(ascii: "\"") || c == UInt8(ascii: "[") || c == UInt8(ascii: "]"): return false
        case .none where code.info.valueClass == .header
            && (c == UInt8(ascii: "\"") || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")):
            return false
        default: break
        }
        let isDigit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
        let isLetter = (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z")
        let isHex = isDigit || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "f"))
        let dash = c == UInt8(ascii: "-")
        switch code.info.valueClass {
        case .digits:
            return isDigit || dash || (c == UInt8(ascii: ".") && (code.precision != nil || code.info.name == "tS"))
        case .token:
            return isDigit || isLetter || dash || c == UInt8(ascii: "_")
        case .address:
            return isHex || dash || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        case .method:
            return isDigit || isLetter || "!#$%&'*+-.^_`|~".utf8.contains(c)
        case .localTime:
            return isDigit || isLetter || "/:+- ".utf8.contains(c)
        case .gmtTime:
            return isDigit || isLetter || "/:-".utf8.contains(c)
        case .any, .text, .header:
            return true
        }
    }
}
