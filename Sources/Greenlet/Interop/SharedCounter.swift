import CPythonShim

/// A process-wide count that several threads update, with no lock: on a free-threaded
/// CPython they do so in parallel. Its storage is allocated once and never freed.
struct SharedCounter {
    private let storage: UnsafeMutablePointer<Int>

    init(_ initial: Int = 0) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: initial)
    }

    var value: Int { gl_atomic_load_size(storage) }

    func add(_ delta: Int) { _ = gl_atomic_add_size(storage, delta) }

    func store(_ newValue: Int) { gl_atomic_store_size(storage, newValue) }
}
