package demo.model;

public class Item {
	private final String name;
	private final int count;

	public Item(String name, int count) {
		this.name = name;
		this.count = count;
	}

	public int count() {
		return count;
	}

	public String name() {
		return name;
	}
}
