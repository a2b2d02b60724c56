package demo;

import demo.model.Item;
import demo.model.Order;
import demo.util.Checks;
import demo.util.Pipeline;

/* Obfuscated by t/retrace.bats with ProGuard; each argument crashes a
 * different way so the test sees lambdas, inner classes, overloads, inlined
 * helpers and a Caused-by chain. */
public class Main {
	public static void main(String[] args) {
		String what = args.length > 0 ? args[0] : "chain";
		switch (what) {
		case "chain":
			chain(args.length);
			break;
		case "lambda":
			Pipeline.run(new Item("x", -1), it -> Checks.positive(it.count(), it));
			break;
		case "inner":
			new Order(3).validator().check(-2);
			break;
		case "overload":
			Checks.describe(args.length > 5 ? "s" : null);
			break;
		default:
			throw new IllegalArgumentException(what);
		}
	}

	static void chain(int depth) {
		try {
			level1(depth);
		} catch (IllegalStateException e) {
			throw new RuntimeException("wrapped in " + Main.class.getName(), e);
		}
	}

	static void level1(int d) {
		level2(d + 1);
	}

	static void level2(int d) {
		level3(d * 2);
	}

	static void level3(int d) {
		Order o = new Order(d);
		o.total(new Item("nail", d - d));
	}
}
