import Foundation

extension Disclosure {
    /// The disclosure as Markdown (CommonMark with GitHub tables).
    ///
    /// Text from the manifest is escaped, so a description cannot add links, HTML or
    /// formatting of its own; identifiers are shown as code.
    ///
    /// ```swift
    /// print(try Disclosure(manifest: manifest).markdown())
    /// ```
    public func markdown() -> String {
        let document = DisclosureDocument(self)
        var out = "# \(MarkdownRenderer.escape(document.title))\n"
        for section in document.sections {
            out += "\n## \(MarkdownRenderer.escape(section.title))\n"
            for block in section.blocks { out += "\n" + MarkdownRenderer.block(block) }
        }
        return out
    }

    /// The disclosure as a standalone HTML5 document, styled inline, with every string from
    /// the manifest HTML-escaped.
    ///
    /// Each section is a `<section>` with a stable `id` (`collected`, `purposes`, `retention`,
    /// `recipients`, `crossBorder`, `permissions`, `events`, `metrics` (only when the manifest
    /// declares metrics), `stewardRecords`, `children`, `rights`, `security`, `contact`), so a
    /// host can link to it.
    public func html() -> String {
        let document = DisclosureDocument(self)
        let title = HTMLRenderer.escape(document.title)
        var out = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title)</title>
            <style>
            body { font-family: system-ui, sans-serif; line-height: 1.5; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }
            table { border-collapse: collapse; margin: 1rem 0; }
            th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
            code { background: #f2f2f2; padding: 0 0.2rem; border-radius: 3px; }
            </style>
            </head>
            <body>
            <main>
            <h1>\(title)</h1>

            """
        for section in document.sections {
            out +=
                "<section id=\"\(HTMLRenderer.escape(section.id))\">\n<h2>\(HTMLRenderer.escape(section.title))</h2>\n"
            for block in section.blocks { out += HTMLRenderer.block(block) }
            out += "</section>\n"
        }
        out += "</main>\n</body>\n</html>\n"
        return out
    }

    /// The disclosure as JSON: every field of this type, keys sorted, so equal disclosures give
    /// equal bytes.
    ///
    /// - Throws: `EncodingError` only if encoding fails, which these types do not cause.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// Markdown output of a ``DisclosureDocument``.
enum MarkdownRenderer {
    /// `text` with every character Markdown could read as markup backslash-escaped, and line
    /// breaks turned into spaces, so it stays one paragraph of plain text.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "\\", "`", "*", "_", "[", "]", "<", ">", "|", "#", "&", "~", "!":
                out.append("\\")
                out.append(character)
            case "\n", "\r", "\r\n":
                out.append(" ")
            default:
                out.append(character)
            }
        }
        return out
    }

    static func code(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.contains("`") ? "`` \(flat) ``" : "`\(flat)`"
    }

    static func inline(_ inlines: [DisclosureDocument.Inline]) -> String {
        inlines.map { inline in
            switch inline {
            case .text(let text): escape(text)
            case .code(let text): code(text)
            case .strong(let text): "**\(escape(text))**"
            }
        }.joined()
    }

    static func block(_ block: DisclosureDocument.Block) -> String {
        switch block {
        case .heading(let inlines):
            return "### \(inline(inlines))\n"
        case .paragraph(let inlines):
            return inline(inlines) + "\n"
        case .list(let items):
            return items.map { "- \(inline($0))\n" }.joined()
        case .table(let header, let rows):
            var out = "| " + header.map(escape).joined(separator: " | ") + " |\n"
            out += "|" + String(repeating: " --- |", count: header.count) + "\n"
            for row in rows { out += "| " + row.map(inline).joined(separator: " | ") + " |\n" }
            return out
        }
    }
}

/// HTML output of a ``DisclosureDocument``.
enum HTMLRenderer {
    /// `text` safe in element content and in quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func inline(_ inlines: [DisclosureDocument.Inline]) -> String {
        inlines.map { inline in
            switch inline {
            case .text(let text): escape(text)
            case .code(let text): "<code>\(escape(text))</code>"
            case .strong(let text): "<strong>\(escape(text))</strong>"
            }
        }.joined()
    }

    static func block(_ block: DisclosureDocument.Block) -> String {
        switch block {
        case .heading(let inlines):
            return "<h3>\(inline(inlines))</h3>\n"
        case .paragraph(let inlines):
            return "<p>\(inline(inlines))</p>\n"
        case .list(let items):
            return "<ul>\n" + items.map { "<li>\(inline($0))</li>\n" }.joined() + "</ul>\n"
        case .table(let header, let rows):
            var out =
                "<table>\n<thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
            for row in rows { out += "<tr>" + row.map { "<td>\(inline($0))</td>" }.joined() + "</tr>\n" }
            return out + "</tbody>\n</table>\n"
        }
    }
}
