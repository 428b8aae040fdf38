package cache

// node is an element of a list: the queues of every policy here are doubly linked lists whose
// nodes are the cache's items, so that moving or removing one is O(1) and allocation-free.
type node[T any] struct {
	prev, next *node[T]
	v          T
}

// list is a doubly linked list with a sentinel. The front is the newest end, the back the oldest.
// The zero value is an empty list.
type list[T any] struct {
	root node[T]
	n    int
}

func (l *list[T]) lazyInit() {
	if l.root.next == nil {
		l.root.next = &l.root
		l.root.prev = &l.root
	}
}

func (l *list[T]) len() int { return l.n }

// back returns the oldest node, or nil.
func (l *list[T]) back() *node[T] {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

// newer returns the node in front of n (inserted after it), or nil at the front.
func (l *list[T]) newer(n *node[T]) *node[T] {
	if n.prev == &l.root {
		return nil
	}
	return n.prev
}

// pushFront inserts n, which must not be in any list, at the front.
func (l *list[T]) pushFront(n *node[T]) {
	l.lazyInit()
	n.prev = &l.root
	n.next = l.root.next
	l.root.next.prev = n
	l.root.next = n
	l.n++
}

// remove takes n, which must be in l, out of l.
func (l *list[T]) remove(n *node[T]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
	l.n--
}

// moveToFront moves n, which must be in l, to the front.
func (l *list[T]) moveToFront(n *node[T]) {
	if l.root.next == n {
		return
	}
	l.remove(n)
	l.pushFront(n)
}
