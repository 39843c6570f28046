/// How manifest problems quote what they found and suggest what was meant.
enum ProblemWording {
    /// `text` in double quotes, control characters escaped, shortened past `limit` characters so
    /// a problem about a huge value stays readable.
    static func quoted(_ text: String, limit: Int = 60) -> String {
        "\"" + escaped(text, limit: limit, quote: "\"") + "\""
    }

    /// `text` with `quote`, backslashes and control characters escaped, shortened past `limit`
    /// characters with an ellipsis.
    static func escaped(_ text: String, limit: Int, quote: Unicode.Scalar) -> String {
        var result = ""
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            if offset == limit {
                result += "…"
                break
            }
            switch scalar {
            case quote, "\\":
                result += "\\"
                result.unicodeScalars.append(scalar)
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The candidate `text` most likely stands for (same spelling ignoring case, or at most two
    /// edits away), as ` (did you mean "x"?)`, or an empty string.
    static func suggestion(for text: String, among candidates: some Collection<String>) -> String {
        guard let best = closest(to: text, among: candidates) else { return "" }
        return "; did you mean \(quoted(best))?"
    }

    /// The candidate closest to `text` within two edits (case differences count as none), if any.
    static func closest(to text: String, among candidates: some Collection<String>) -> String? {
        let longest = 64
        // Bounded work per problem, so a huge manifest full of mistakes stays quick to check.
        guard !text.isEmpty, text.utf8.count <= longest, candidates.count <= 256 else { return nil }
        let lowered = Array(text.lowercased().unicodeScalars)
        var best: (candidate: String, distance: Int)?
        let allowed = min(2, max(1, lowered.count / 3))
        for candidate in candidates where candidate != text && candidate.utf8.count <= longest {
            let other = Array(candidate.lowercased().unicodeScalars)
            // The distance is at least the difference in length: most candidates end here.
            guard abs(other.count - lowered.count) <= allowed else { continue }
            let distance = editDistance(lowered, other)
            if distance <= allowed, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// `values` as `a, b, c`, each quoted when `quote` is true, the first `limit` only.
    static func list(_ values: [String], quote: Bool = false, limit: Int = 12) -> String {
        let shown = values.prefix(limit).map { quote ? quoted($0) : $0 }
        return (shown + (values.count > limit ? ["… (\(values.count) in all)"] : [])).joined(separator: ", ")
    }

    /// The Levenshtein distance between two short strings.
    private static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
