import Foundation

/// RFC 4180 CSV reading and writing.
public enum CSV {
    public static func parse(_ text: String) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var atStart = true
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.unicodeScalars.append(c) }
                continue
            }
            switch c {
            case "\"" where atStart && field.isEmpty: quoted = true
            case ",": record.append(field); field = ""; atStart = true; continue
            case "\r": continue
            case "\n":
                record.append(field)
                records.append(record)
                record = []
                field = ""
                atStart = true
                continue
            default: field.unicodeScalars.append(c)
            }
            atStart = false
        }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        return records
    }

    /// One cell, quoted when it holds a comma, quote or line break.
    public static func cell(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

