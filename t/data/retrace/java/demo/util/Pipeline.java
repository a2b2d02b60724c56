package demo.util;

import demo.model.Item;
import java.util.function.ToIntFunction;

public class Pipeline {
	public static int run(Item item, ToIntFunction<Item> step) {
		int r = apply(item, step);
		return r + 1;
	}

	private static int apply(Item item, ToIntFunction<Item> step) {
		return step.applyAsInt(item);
	}
}
