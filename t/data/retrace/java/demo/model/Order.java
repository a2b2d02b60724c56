package demo.model;

import demo.util.Checks;

public class Order {
	private final int size;

	public Order(int size) {
		this.size = size;
	}

	public int total(Item item) {
		int c = item.count();
		return size * Checks.nonZero(c, item);
	}

	public Validator validator() {
		return new Validator();
	}

	public class Validator {
		public void check(int v) {
			if (v < size - 10 || v < 0)
				throw new IllegalStateException("invalid value " + v + " for "
								+ Validator.class.getName());
		}
	}
}
