/// A location inside a JSON document, written `$.purposes[2].id`: the path problems report.
struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    /// One step down: into an object's member or an array's element.
    enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    private(set) var components: [Component] = []

    /// The whole document, `$`.
    static let root = JSONPath()

    /// The member `key` of the object here.
    subscript(key: String) -> JSONPath {
        var path = self
        path.components.append(.key(key))
        return path
    }

    /// The element `index` of the array here.
    subscript(index: Int) -> JSONPath {
        var path = self
        path.components.append(.index(index))
        return path
    }

    /// Whether `self` is `other` or one of its ancestors.
    func isPrefix(of other: JSONPath) -> Bool {
        components.count <= other.components.count && other.components.starts(with: components)
    }

    /// The root, every ancestor, and the path itself, outermost first.
    var prefixes: [JSONPath] {
        (0...components.count).map { JSONPath(components: Array(components.prefix($0))) }
    }

    var description: String {
        var text = "$"
        for component in components {
            switch component {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where Self.isPlainName(key):
                text += "." + key
            case .key(let key):
                text += "['" + Self.escaped(key) + "']"
            }
        }
        return text
    }

    /// Keys longer than this are shortened in paths; only unknown keys can be that long.
    private static let longestKeyShown = 100

    private static func isPlainName(_ key: String) -> Bool {
        guard let first = key.utf8.first, key.utf8.count <= longestKeyShown else { return false }
        func isLetter(_ byte: UInt8) -> Bool {
            (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") || byte == UInt8(ascii: "_")
        }
        return isLetter(first)
            && key.utf8.allSatisfy { isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
    }

    private static func escaped(_ key: String) -> String {
        ProblemWording.escaped(key, limit: longestKeyShown, quote: "'")
    }
}
