// Decoding of one Squid access-log line against a compiled `SquidLogFormat`.
//
// Everything works on the raw bytes of the line: no Foundation, no regular expressions. Only
// the user name becomes a String while decoding (`SquidFields`); a `SquidRecord` adds the
// host, method and result code, which metering looks up by their bytes instead.

extension SquidLogFormat {
    /// Decodes one line given as a String (without its trailing newline).
    public func decode(_ line: String) -> SquidLineResult {
        var line = line
        return line.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    /// Decodes one line given as bytes, without its trailing newline (a trailing `\r` and
    /// trailing spaces are ignored). Never traps: anything that does not fit is `.malformed`.
    public func decode(_ line: UnsafeRawBufferPointer) -> SquidLineResult {
        switch fields(line) {
        case .success(let f): return .record(f.record(line))
        case .failure(let failure): return .malformed(reason: failure.reason)
        }
    }

    /// Decodes one line like `decode(_:)` without making the host, method and result
    /// code strings: metering looks them up by their bytes in the line.
    func fields(_ line: UnsafeRawBufferPointer) -> Result<SquidFields, SquidFailure> {
        var end = line.count
        while end > 0 {
            let c = line[end - 1]
            guard c == SquidByte.space || c == SquidByte.cr || c == SquidByte.lf else { break }
            end -= 1
        }
        var pos = 0
        while pos < end, line[pos] == SquidByte.space { pos += 1 }
        guard pos < end else { return .failure(.empty) }

        var spans = SquidSpans()
        let failure = elements.withUnsafeBufferPointer { elements in
            literalBytes.withUnsafeBufferPointer { literals in
                Self.match(line, end: end, pos: &pos, elements: elements, literals: literals, spans: &spans)
            }
        }
        if let failure { return .failure(failure) }
        if pos < end {
            // Only Squid's own format may carry ` [request headers] [reply headers]` after it.
            while pos < end, line[pos] == SquidByte.space { pos += 1 }
            guard allowsMimeHeaderTrailer, pos < end, line[pos] == SquidByte.openBracket else {
                return .failure(.tooManyFields)
            }
        }
        return Self.fields(line, spans, timeSource: timeSource, userQuoting: userQuoting)
    }

    /// Runs the matcher over the line, recording where each wanted value lies.
    @inline(__always)
    private static func match(
        _ line: UnsafeRawBufferPointer, end: Int, pos position: inout Int,
        elements: UnsafeBufferPointer<SquidElement>, literals: UnsafeBufferPointer<UInt8>,
        spans: inout SquidSpans
    ) -> SquidFailure? {
        var pos = position  // kept in a register; written back on the way out
        defer { position = pos }
        let space = SquidByte.space
        for e in elements {
            switch e.kind {
            case .spaces:
                guard pos < end else { return .truncated }
                guard line[pos] == space else { return .unexpectedText }
                repeat { pos &+= 1 } while pos < end && line[pos] == space
            case .literal:
                let count = e.literalCount
                guard end &- pos >= count else { return .truncated }
                var k = 0
                while k < count {
                    guard line[pos &+ k] == literals[e.literalStart &+ k] else { return .unexpectedText }
                    k &+= 1
                }
                pos &+= count
            case .code:
                if e.skipLeadingSpaces {
                    while pos < end, line[pos] == space { pos += 1 }
                }
                let start = pos
                if e.spaceful {
                    while pos < end {
                        let c = line[pos]
                        if c == e.stop { break }
                        pos += e.escapes && c == SquidByte.backslash ? 2 : 1
                    }
                    if pos > end { pos = end }
                } else if e.twoWords {
                    pos = find(space, or: space, in: line, from: pos, to: end)
                    guard pos < end else { return .truncated }
                    pos = find(space, or: space, in: line, from: pos + 1, to: end)
                } else {
                    pos = find(space, or: e.hasStop ? e.stop : space, in: line, from: pos, to: end)
                }
                guard pos > start else { return start == end ? .truncated : .unexpectedText }
                if e.slot != .none { spans.set(e.slot, start, pos) }
                if e.skipTrailingSpaces {
                    while pos < end, line[pos] == space { pos += 1 }
                }
            }
        }
        return nil
    }

    /// The index of the first `a` or `b` in `line[from..<to]`, or `to`. Reads eight bytes at a
    /// time: in `(x - 0x01..01) & ~x & 0x80..80` the lowest set bit marks the first zero byte.
    @inline(__always)
    static func find(_ a: UInt8, or b: UInt8, in line: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var p = from
        if let base = line.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            let pa = ones &* UInt64(a)
            let pb = ones &* UInt64(b)
            while end - p >= 8 {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                let xa = word ^ pa
                let xb = word ^ pb
                let hits = ((xa &- ones) & ~xa | (xb &- ones) & ~xb) & highs
                if hits != 0 { return p + hits.trailingZeroBitCount >> 3 }
                p += 8
            }
        }
        while p < end {
            let c = line[p]
            if c == a || c == b { return p }
            p += 1
        }
        return end
    }

    /// Validates the matched values and parses the numbers.
    @inline(__always)
    private static func fields(
        _ line: UnsafeRawBufferPointer, _ spans: SquidSpans, timeSource: SquidSlot, userQuoting: SquidQuoting
    ) -> Result<SquidFields, SquidFailure> {
        // Time.
        let time: Int64
        switch timeSource {
        case .seconds:
            guard let seconds = parseDigits(line, spans.seconds, max: Int64.max / 1000 - 1) else {
                return .failure(.badTime)
            }
            var millis: Int64 = 0
            if spans.millis.isSet {
                guard let m = parseDigits(line, spans.millis, max: 999) else { return .failure(.badTime) }
                millis = m
            }
            time = seconds * 1000 + millis
        case .startTime:
            guard let t = parseDecimalSeconds(line, spans.startTime) else { return .failure(.badTime) }
            time = t
        case .localTime, .gmtTime:
            let span = timeSource == .localTime ? spans.localTime : spans.gmtTime
            guard let t = parseLogTime(line, span, withZone: timeSource == .localTime) else {
                return .failure(.badTime)
            }
            time = t
        default:
            return .failure(.badTime)
        }

        // Status, bytes.
        var status = 0
        if spans.status.isSet, !isDash(line, spans.status) {
            guard let s = parseDigits(line, spans.status, max: 999) else { return .failure(.badStatus) }
            status = Int(s)
        }
        guard let bytesToClient = parseDigits(line, spans.bytesToClient, max: .max) else {
            return .failure(.badBytes)
        }
        var bytesFromClient: Int64 = 0
        if spans.bytesFromClient.isSet {
            guard let b = parseDigits(line, spans.bytesFromClient, max: .max) else { return .failure(.badBytes) }
            bytesFromClient = b
        }

        // Result code and method: ASCII tokens.
        let code = spans.resultCode
        for i in code.start..<code.end where !SquidByte.isResultCode(line[i]) { return .failure(.badResultCode) }
        if spans.method.isSet {
            for i in spans.method.start..<spans.method.end where !SquidByte.isToken(line[i]) {
                return .failure(.badMethod)
            }
        }

        // Host and port. A line that is never usage may lack them (`NONE_NONE/000 ...
        // error:transaction-end-before-headers`, a client that closed before asking anything):
        // it decodes with an empty host, to be counted as denied rather than malformed.
        let codeBytes = UnsafeRawBufferPointer(rebasing: line[code.start..<code.end])
        let denied = SquidRecord.isDenied(resultCode: codeBytes, status: status)
        var target = SquidTarget(hostStart: 0, hostEnd: 0, port: 0)
        switch parseTarget(line, spans.url) {
        case .success(let t): target = t
        case .failure(let failure): if !denied { return .failure(failure) }
        }

        // User.
        var user: String?
        if spans.user.isSet, !isDash(line, spans.user) {
            guard let u = decodeUser(line, spans.user, quoting: userQuoting) else { return .failure(.badUser) }
            user = u
        }

        return .success(
            SquidFields(
                time: time, user: user, host: SquidSpan(start: target.hostStart, end: target.hostEnd), port: target.port,
                status: status, resultCode: code, bytesToClient: bytesToClient, bytesFromClient: bytesFromClient,
                method: spans.method, denied: denied))
    }
}

/// A decoded line before its host, method and result code become strings: those are spans of
/// the line (the host not yet lower-cased; an unset method span: the format logs none).
struct SquidFields {
    var time: Int64
    var user: String?
    var host: SquidSpan
    var port: Int
    var status: Int
    var resultCode: SquidSpan
    var bytesToClient: Int64
    var bytesFromClient: Int64
    var method: SquidSpan
    var denied: Bool

    /// The record of these fields, its text fields made into strings.
    func record(_ line: UnsafeRawBufferPointer) -> SquidRecord {
        SquidRecord(
            time: time, user: user, host: SquidLogFormat.lowercasedString(line, host.start, host.end),
            port: port, status: status, resultCode: SquidLogFormat.asciiString(line, resultCode),
            bytesToClient: bytesToClient, bytesFromClient: bytesFromClient,
            method: method.isSet ? SquidLogFormat.asciiString(line, method) : "",
            denied: denied)
    }
}

// MARK: - Matcher state

/// A value's place in the line, `start < 0` when the format or line did not give it.
struct SquidSpan {
    var start = -1
    var end = -1
    var isSet: Bool { start >= 0 }
}

/// Where the values the record needs lie in the line.
struct SquidSpans {
    var seconds = SquidSpan(), millis = SquidSpan(), startTime = SquidSpan()
    var localTime = SquidSpan(), gmtTime = SquidSpan()
    var resultCode = SquidSpan(), status = SquidSpan(), bytesToClient = SquidSpan()
    var bytesFromClient = SquidSpan(), method = SquidSpan(), url = SquidSpan(), user = SquidSpan()

    @inline(__always)
    mutating func set(_ slot: SquidSlot, _ start: Int, _ end: Int) {
        let span = SquidSpan(start: start, end: end)
        switch slot {
        case .none: break
        case .seconds: seconds = span
        case .millis: millis = span
        case .startTime: startTime = span
        case .localTime: localTime = span
        case .gmtTime: gmtTime = span
        case .resultCode: resultCode = span
        case .status: status = span
        case .bytesToClient: bytesToClient = span
        case .bytesFromClient: bytesFromClient = span
        case .method: method = span
        case .url: url = span
        case .user: user = span
        }
    }
}

/// Why a line is malformed. The reasons are string literals, so reporting one allocates nothing.
enum SquidFailure: Error {
    case empty, truncated, unexpectedText, tooManyFields
    case badTime, badStatus, badBytes, badResultCode, badMethod, badUser
    case badURL, noHost, badHost, badPort

    var reason: String {
        switch self {
        case .empty: "empty line"
        case .truncated: "truncated line"
        case .unexpectedText: "line does not match the format"
        case .tooManyFields: "too many fields"
        case .badTime: "bad time"
        case .badStatus: "bad HTTP status"
        case .badBytes: "bad byte count"
        case .badResultCode: "bad result code"
        case .badMethod: "bad method"
        case .badUser: "bad user name"
        case .badURL: "bad URL"
        case .noHost: "URL has no host"
        case .badHost: "bad host in URL"
        case .badPort: "bad port in URL"
        }
    }
}

struct SquidTarget {
    var hostStart: Int
    var hostEnd: Int
    var port: Int
}

// MARK: - Field parsers

extension SquidLogFormat {
    /// A strict unsigned decimal: digits only (leading zeros allowed), at most `max`.
    @inline(__always)
    static func parseDigits(_ line: UnsafeRawBufferPointer, _ span: SquidSpan, max: Int64) -> Int64? {
        parseDigits(line, span.start, span.end, max: max)
    }

    @inline(__always)
    static func parseDigits(_ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int, max: Int64) -> Int64? {
        guard start >= 0, start < end else { return nil }
        var value: Int64 = 0
        if end - start <= 18 {
            // 18 digits cannot overflow an Int64.
            for i in start..<end {
                let d = line[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                value = value &* 10 &+ Int64(d)
            }
        } else {
            for i in start..<end {
                let d = line[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(d))
                guard !o1, !o2 else { return nil }
                value = sum
            }
        }
        return value <= max ? value : nil
    }

    @inline(__always)
    static func isDash(_ line: UnsafeRawBufferPointer, _ span: SquidSpan) -> Bool {
        span.end - span.start == 1 && line[span.start] == UInt8(ascii: "-")
    }

    /// `%tS`: seconds with an optional decimal fraction, to epoch milliseconds (truncated).
    static func parseDecimalSeconds(_ line: UnsafeRawBufferPointer, _ span: SquidSpan) -> Int64? {
        guard span.isSet else { return nil }
        var dot = span.start
        while dot < span.end, line[dot] != UInt8(ascii: ".") { dot += 1 }
        guard let seconds = parseDigits(line, span.start, dot, max: Int64.max / 1000 - 1) else { return nil }
        var millis: Int64 = 0
        if dot < span.end {
            guard dot + 1 < span.end else { return nil }
            var scale: Int64 = 100
            for i in (dot + 1)..<span.end {
                let d = line[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                millis += Int64(d) * scale
                scale /= 10
            }
        }
        return seconds * 1000 + millis
    }

    /// `%tl` (`dd/Mon/yyyy:HH:MM:SS +zzzz`) or `%tg` (`dd/Mon/yyyy:HH:MM:SS`, UTC) to epoch ms.
    static func parseLogTime(_ line: UnsafeRawBufferPointer, _ span: SquidSpan, withZone: Bool) -> Int64? {
        guard span.isSet, span.end - span.start == (withZone ? 26 : 20) else { return nil }
        let s = span.start
        func number(_ offset: Int, _ digits: Int) -> Int? {
            var v = 0
            for i in 0..<digits {
                let d = line[s + offset + i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            return v
        }
        func byte(_ offset: Int) -> UInt8 { line[s + offset] }
        guard byte(2) == UInt8(ascii: "/"), byte(6) == UInt8(ascii: "/"), byte(11) == UInt8(ascii: ":"),
            byte(14) == UInt8(ascii: ":"), byte(17) == UInt8(ascii: ":"),
            let day = number(0, 2), let year = number(7, 4), let hour = number(12, 2),
            let minute = number(15, 2), let second = number(18, 2)
        else { return nil }
        let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
        var month = 0
        let names = months.utf8Start
        for m in 0..<12 where names[m * 3] == byte(3) && names[m * 3 + 1] == byte(4) && names[m * 3 + 2] == byte(5) {
            month = m + 1
        }
        guard month > 0, day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60, second <= 60 else {
            return nil
        }
        var offset = 0
        if withZone {
            guard byte(20) == SquidByte.space, byte(21) == UInt8(ascii: "+") || byte(21) == UInt8(ascii: "-"),
                let zoneHours = number(22, 2), let zoneMinutes = number(24, 2), zoneMinutes < 60
            else { return nil }
            offset = (zoneHours * 3600 + zoneMinutes * 60) * (byte(21) == UInt8(ascii: "-") ? -1 : 1)
        }
        let days = daysFromCivil(year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return seconds >= 0 ? Int64(seconds) * 1000 : nil
    }

    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Host and port from `scheme://[userinfo@]host[:port][/...]`, or from `host:port` /
    /// `[v6]:port` (the CONNECT form).
    static func parseTarget(_ line: UnsafeRawBufferPointer, _ span: SquidSpan) -> Result<SquidTarget, SquidFailure> {
        guard span.isSet, !isDash(line, span) else { return .failure(.noHost) }
        let s = span.start
        let e = span.end
        // A scheme: ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") followed by "://".
        var i = s
        while i < e, SquidByte.isScheme(line[i]) { i += 1 }
        if i > s, SquidByte.isLetter(line[s]), e - i >= 3, line[i] == UInt8(ascii: ":"),
            line[i + 1] == UInt8(ascii: "/"), line[i + 2] == UInt8(ascii: "/")
        {
            let defaultPort = defaultPort(line, s, i)
            let authorityStart = i + 3
            var authorityEnd = authorityStart
            var hostStart = authorityStart
            while authorityEnd < e {
                let c = line[authorityEnd]
                if c == UInt8(ascii: "/") || c == UInt8(ascii: "?") || c == UInt8(ascii: "#") { break }
                if c == UInt8(ascii: "@") { hostStart = authorityEnd + 1 }
                authorityEnd += 1
            }
            return parseHostPort(line, hostStart, authorityEnd, defaultPort: defaultPort)
        }
        return parseHostPort(line, s, e, defaultPort: nil)
    }

    /// Squid's default ports for the schemes it proxies; nil for others.
    static func defaultPort(_ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        func equals(_ name: StaticString) -> Bool {
            guard end - start == name.utf8CodeUnitCount else { return false }
            let p = name.utf8Start
            for k in 0..<(end - start) where line[start + k] | 0x20 != p[k] { return false }
            return true
        }
        if equals("http") { return 80 }
        if equals("https") { return 443 }
        if equals("ftp") { return 21 }
        if equals("gopher") { return 70 }
        if equals("wais") { return 210 }
        if equals("whois") { return 43 }
        return nil
    }

    static func parseHostPort(
        _ line: UnsafeRawBufferPointer, _ s: Int, _ e: Int, defaultPort: Int?
    ) -> Result<SquidTarget, SquidFailure> {
        guard s < e else { return .failure(.noHost) }
        let hostStart: Int
        let hostEnd: Int
        var after: Int
        if line[s] == SquidByte.openBracket {
            var close = s + 1
            while close < e, line[close] != UInt8(ascii: "]") { close += 1 }
            guard close < e, close > s + 1 else { return .failure(.badHost) }
            hostStart = s + 1
            hostEnd = close
            // hex digits, ':' and '.', then an optional %zone.
            var sawColon = false
            var inZone = false
            for k in hostStart..<hostEnd {
                let c = line[k]
                if inZone {
                    guard SquidByte.isRegName(c) else { return .failure(.badHost) }
                } else if c == UInt8(ascii: ":") {
                    sawColon = true
                } else if c == UInt8(ascii: "%") {
                    guard k > hostStart else { return .failure(.badHost) }
                    inZone = true
                } else {
                    guard SquidByte.isHexDigit(c) || c == UInt8(ascii: ".") else { return .failure(.badHost) }
                }
            }
            guard sawColon else { return .failure(.badHost) }
            after = close + 1
        } else {
            var k = s
            while k < e, line[k] != UInt8(ascii: ":") {
                guard SquidByte.isRegName(line[k]) else { return .failure(.badHost) }
                k += 1
            }
            guard k > s else { return .failure(.noHost) }
            hostStart = s
            hostEnd = k
            after = k
        }
        var port: Int
        if after == e || (line[after] == UInt8(ascii: ":") && after + 1 == e) {
            // No port, or an empty one (RFC 3986): the scheme's default.
            guard let defaultPort else { return .failure(after == e ? .badURL : .badPort) }
            port = defaultPort
        } else {
            guard line[after] == UInt8(ascii: ":") else { return .failure(.badHost) }
            after += 1
            guard let p = parseDigits(line, after, e, max: 65_535), p > 0 else {
                // Out of range is a bad port; anything else (`error:invalid-request`) is no URL.
                for k in after..<e where !SquidByte.isDigit(line[k]) { return .failure(.badURL) }
                return .failure(.badPort)
            }
            port = Int(p)
        }
        return .success(SquidTarget(hostStart: hostStart, hostEnd: hostEnd, port: port))
    }

    /// The user name, with the escaping of its quoting undone and checked to be UTF-8.
    static func decodeUser(_ line: UnsafeRawBufferPointer, _ span: SquidSpan, quoting: SquidQuoting) -> String? {
        let bytes = UnsafeRawBufferPointer(rebasing: line[span.start..<span.end])
        var plain = true
        for c in bytes where c >= 0x80 || c == UInt8(ascii: "%") || c == SquidByte.backslash {
            plain = false
            break
        }
        if plain { return String(decoding: bytes, as: UTF8.self) }
        let unescaped: [UInt8]
        switch quoting {
        case .none, .raw, .shell:
            unescaped = Array(bytes)
        case .mimeBlob, .url, .quotes:
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var i = 0
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "%"), quoting != .quotes {
                    guard i + 2 < bytes.count, let hi = SquidByte.hexValue(bytes[i + 1]),
                        let lo = SquidByte.hexValue(bytes[i + 2])
                    else { return nil }
                    out.append(hi << 4 | lo)
                    i += 3
                } else if c == SquidByte.backslash, quoting != .url {
                    guard i + 1 < bytes.count else { return nil }
                    let next = bytes[i + 1]
                    switch next {
                    case UInt8(ascii: "r"): out.append(SquidByte.cr)
                    case UInt8(ascii: "n"): out.append(SquidByte.lf)
                    case UInt8(ascii: "t") where quoting == .quotes: out.append(0x09)
                    case SquidByte.backslash: out.append(SquidByte.backslash)
                    default:
                        guard quoting == .quotes else { return nil }
                        out.append(next)
                    }
                    i += 2
                } else {
                    out.append(c)
                    i += 1
                }
            }
            unescaped = out
        }
        guard !unescaped.isEmpty else { return nil }
        return String(validating: unescaped, as: UTF8.self)
    }

    /// A String from bytes already checked to be ASCII.
    @inline(__always)
    static func asciiString(_ line: UnsafeRawBufferPointer, _ span: SquidSpan) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: line[span.start..<span.end]), as: UTF8.self)
    }

    /// A String of ASCII bytes with `A`-`Z` lower-cased, written straight into the string.
    @inline(__always)
    static func lowercasedString(_ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        String(unsafeUninitializedCapacity: end - start) { buffer in
            lowercase(line, start, end, into: buffer)
            return end - start
        }
    }

    /// Copies ASCII bytes `line[start..<end]` to the start of `buffer` with `A`-`Z` lower-cased.
    @inline(__always)
    static func lowercase(_ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        for k in 0..<(end - start) {
            let c = line[start + k]
            buffer[k] = c &- UInt8(ascii: "A") < 26 ? c | 0x20 : c
        }
    }
}

// MARK: - Byte classes

/// ASCII byte constants and classes used by the decoder.
enum SquidByte {
    static let space = UInt8(ascii: " ")
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "[")

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }
    @inline(__always) static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) &- UInt8(ascii: "a") < 26 }
    @inline(__always) static func isHexDigit(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20) &- UInt8(ascii: "a") < 6 }

    static func hexValue(_ c: UInt8) -> UInt8? {
        if isDigit(c) { return c - UInt8(ascii: "0") }
        if (c | 0x20) &- UInt8(ascii: "a") < 6 { return (c | 0x20) - UInt8(ascii: "a") + 10 }
        return nil
    }

    /// `TCP_MISS`, `NONE_NONE`, `TCP_DENIED_REPLY` ...
    @inline(__always) static func isResultCode(_ c: UInt8) -> Bool {
        isLetter(c) || isDigit(c) || c == UInt8(ascii: "_")
    }

    /// An RFC 9110 token character, or `-` (Squid's empty method).
    @inline(__always) static func isToken(_ c: UInt8) -> Bool {
        if isLetter(c) || isDigit(c) { return true }
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    @inline(__always) static func isScheme(_ c: UInt8) -> Bool {
        isLetter(c) || isDigit(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }

    /// Host name bytes: RFC 3986 unreserved characters and percent-escapes.
    @inline(__always) static func isRegName(_ c: UInt8) -> Bool {
        isLetter(c) || isDigit(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
            || c == UInt8(ascii: "~") || c == UInt8(ascii: "%")
    }
}
