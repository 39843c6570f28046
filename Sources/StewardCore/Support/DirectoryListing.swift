#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Lists a directory with `opendir`/`readdir`: shared by the feature modules (package access,
/// not public API), which read sysfs, procfs and /dev the same way.
package enum DirectoryListing {
    /// The names in `path`, unsorted, without `.` and `..`; the errno when it cannot be opened.
    package static func entries(_ path: String) -> Result<[String], SystemError> {
        guard let directory = opendir(path) else {
            return .failure(SystemError(call: "opendir", path: path, errno: errno))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return .success(names)
    }
}
