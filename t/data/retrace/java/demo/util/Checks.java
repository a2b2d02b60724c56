package demo.util;

import demo.model.Item;

public class Checks {
	public static int nonZero(int v, Item what) {
		if (v == 0)
			fail(what);
		return v;
	}

	static void fail(Item what) {
		throw new IllegalStateException("zero count in " + what.getClass().getName()
						+ " " + what.name());
	}

	public static int positive(int v, Item what) {
		if (v < 0)
			throw new ArithmeticException("negative " + what.getClass().getName());
		return v;
	}

	public static int describe(String s) {
		return describe(s, 1);
	}

	public static int describe(String s, int n) {
		return s.length() * n;
	}
}
